import { ConflictError, InvalidInputError, NotFoundError } from '../errors.ts';
import type { Actor, AppSlot } from '../model.ts';
import { Environment, SlotName, environmentForName } from '../names.ts';
import type { ServiceDeps } from './deps.ts';
import type { AppInfo, AppsService } from './types.ts';

/** Validates a slot name before it reaches a path, a unit name or a command line. */
export function checkSlotName(name: string): string {
  const parsed = SlotName.safeParse(name);
  if (!parsed.success) {
    const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);
    throw new InvalidInputError(
      `${shown} is not a valid app name: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      'app names look like myapp, myapp-staging or myapp-pr-123',
    );
  }
  return parsed.data;
}

export function requireApp(deps: ServiceDeps, name: string): AppSlot {
  const app = deps.store.getApp(checkSlotName(name));
  if (!app) throw new NotFoundError(`app ${name} does not exist`, 'list apps with `apps`, or create it with `apps:create`');
  return app;
}

export function createAppsService(deps: ServiceDeps): AppsService {
  return {
    list: () => deps.store.listApps(),

    info(name): AppInfo {
      const app = requireApp(deps, name);
      const latestRelease = deps.store.listReleases(app.name, 1)[0] ?? null;
      const configKeys = deps.store.listConfigVersions(app.name)[0]?.keys ?? [];
      return { app, latestRelease, configKeys, domains: deps.store.listDomains(app.name) };
    },

    async create(name, environment, _actor: Actor) {
      const slot = checkSlotName(name);
      const env = environment === undefined ? environmentForName(slot) : Environment.parse(environment);
      if (deps.store.getApp(slot)) throw new ConflictError(`app ${slot} already exists`, 'pick another name, or see it with `apps:info`');
      const app = deps.store.createApp({ name: slot, environment: env, avoidPorts: deps.listeningPorts?.() });
      deps.log.info({ app: slot, environment: env, bind_port: app.bind_port }, 'app created');
      // Its instance slots (network pods under the podman supervisor) are set up now rather than
      // during its first deploy; best effort, the deploy sets up whatever is still missing.
      await deps.engine?.prepareSlots(app);
      return app;
    },

    async delete(name, confirm, _actor) {
      const app = requireApp(deps, name);
      if (confirm !== app.name) {
        throw new InvalidInputError(
          `deleting ${app.name} removes its releases, config and domains; it needs --confirm ${app.name}`,
          `run: apps:delete ${app.name} --confirm ${app.name}`,
        );
      }
      const lock = deps.store.acquireAppLock(app.name, _actor.id, 'apps:delete');
      try {
        if (deps.engine) await deps.engine.teardown(app);
        deps.store.deleteApp(app.name);
      } finally {
        lock.release();
      }
      deps.log.info({ app: app.name }, 'app deleted');
    },
  };
}
