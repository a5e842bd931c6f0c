import { PvdifyError } from '../errors.ts';
import type { RolloutEngine } from '../deploy/rollout-engine.ts';
import { checkSlotName, createAppsService } from './apps-service.ts';
import { createConfigService } from './config-service.ts';
import type { ServiceDeps } from './deps.ts';
import { createDomainsService } from './domains-service.ts';
import { createReleasesService } from './releases-service.ts';
import type { RolloutService, Services } from './types.ts';

function createRolloutService(engine: RolloutEngine | undefined): RolloutService {
  const need = (): RolloutEngine => {
    if (!engine) {
      throw new PvdifyError('runtime_unavailable', 'this pvdify has no container runtime configured', 'run it on the VPS, where podman is installed');
    }
    return engine;
  };
  return {
    deploy: (app, image, actor, onProgress) => need().deploy(checkSlotName(app), image, actor, { onProgress }),
    rollback: (app, version, actor, onProgress) => need().rollback(checkSlotName(app), version, actor, { onProgress }),
    ps: (app) => need().ps(checkSlotName(app)),
    scale: (app, counts, actor, onProgress) => need().scale(checkSlotName(app), counts, actor, { onProgress }),
    restart: (app, type, actor, onProgress) => need().restart(checkSlotName(app), type, actor, { onProgress }),
    logs: (app, opts) => need().logs(checkSlotName(app), opts),
  };
}

/** Builds the services command modules call. Real adapters are chosen by src/main.ts only. */
export function createServices(deps: ServiceDeps): Services {
  return {
    apps: createAppsService(deps),
    releases: createReleasesService(deps),
    config: createConfigService(deps),
    domains: createDomainsService(deps),
    audit: { query: (q) => deps.store.queryAudit(q) },
    rollout: createRolloutService(deps.engine),
  };
}
