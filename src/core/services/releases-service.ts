import { InvalidInputError, NotFoundError } from '../errors.ts';
import { requireApp } from './apps-service.ts';
import type { ServiceDeps } from './deps.ts';
import type { ReleasesService } from './types.ts';

export function createReleasesService(deps: ServiceDeps): ReleasesService {
  return {
    list(name, limit) {
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new InvalidInputError('--limit must be a whole number from 1 to 1000');
      const app = requireApp(deps, name);
      return deps.store.listReleases(app.name, limit);
    },
    info(name, version) {
      const app = requireApp(deps, name);
      const release = deps.store.getRelease(app.name, version);
      if (!release) throw new NotFoundError(`${app.name} has no release v${version}`, `list them with: releases ${app.name}`);
      return release;
    },
  };
}
