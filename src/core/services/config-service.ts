import { ForbiddenError, NotFoundError } from '../errors.ts';
import type { Actor, AppSlot, Release } from '../model.ts';
import { requireApp } from './apps-service.ts';
import { maskValue, validateConfigKeys, validateConfigPairs } from './config-values.ts';
import type { ServiceDeps } from './deps.ts';
import type { ConfigChange, ConfigService } from './types.ts';

function listKeys(keys: string[]): string {
  return keys.length <= 4 ? keys.join(', ') : `${keys.slice(0, 4).join(', ')} and ${keys.length - 4} more`;
}

/** Latest config values of an app (decrypted, in memory only); `{}` before the first config:set. */
export async function currentConfig(deps: ServiceDeps, app: AppSlot): Promise<{ version: number | null; values: Record<string, string> }> {
  const latest = deps.store.listConfigVersions(app.name)[0];
  if (!latest) return { version: null, values: {} };
  const values = await deps.vault.decrypt(deps.store.readConfigVersion(app.name, latest.version));
  return { version: latest.version, values };
}

/**
 * Writes the new immutable config version and, once the app has been deployed, a new release
 * with the same image and the new config (Heroku's behaviour). On an app never deployed only
 * the config version is stored: there is no image to release yet.
 */
async function storeNewVersion(
  deps: ServiceDeps,
  app: AppSlot,
  values: Record<string, string>,
  description: string,
  actor: Actor,
): Promise<ConfigChange> {
  const now = deps.clock.now();
  const sops = await deps.vault.encrypt(values, now);
  const keys = Object.keys(values).sort();
  const configVersion = deps.store.writeConfigVersion(app.name, sops, keys);
  deps.store.updateApp(app.name, (a) => ({ ...a, config_version: configVersion }));
  let release: Release | null = null;
  const base = app.current_release !== null ? deps.store.getRelease(app.name, app.current_release) : null;
  if (base) {
    release = deps.store.createRelease({
      app: app.name,
      kind: 'config',
      image: base.image,
      config_version: configVersion,
      description,
      source: actor.source,
      created_by: actor.id,
      created_by_name: actor.name,
      approved_by: null,
      rollback_of: null,
    });
  }
  deps.log.info({ app: app.name, config_version: configVersion, keys: keys.length, release: release?.version ?? null }, 'config version written');
  if (release && deps.engine) release = await deps.engine.rollout(release, actor, { lockHeld: true });
  return { configVersion, release, keys };
}

export function createConfigService(deps: ServiceDeps): ConfigService {
  return {
    list(name) {
      const app = requireApp(deps, name);
      const latest = deps.store.listConfigVersions(app.name)[0];
      if (!latest) return [];
      return deps.vault.describe(deps.store.readConfigVersion(app.name, latest.version)).map(({ key, length }) => ({
        key,
        length,
        masked: maskValue(length),
      }));
    },

    async set(name, pairs, actor) {
      validateConfigPairs(pairs);
      const app = requireApp(deps, name);
      const lock = deps.store.acquireAppLock(app.name, actor.id, 'config:set');
      try {
        const { values } = await currentConfig(deps, app);
        for (const [k, v] of pairs) values[k] = v;
        const keys = pairs.map(([k]) => k);
        return await storeNewVersion(deps, app, values, `Set ${listKeys(keys)}`, actor);
      } finally {
        lock.release();
      }
    },

    async unset(name, keys, actor) {
      validateConfigKeys(keys);
      const app = requireApp(deps, name);
      const lock = deps.store.acquireAppLock(app.name, actor.id, 'config:unset');
      try {
        const { values } = await currentConfig(deps, app);
        const missing = keys.filter((k) => !Object.hasOwn(values, k));
        if (missing.length > 0) {
          throw new NotFoundError(`${listKeys(missing)} ${missing.length === 1 ? 'is' : 'are'} not set on ${app.name}`, `see the keys with: config ${app.name}`);
        }
        for (const k of keys) delete values[k];
        return await storeNewVersion(deps, app, values, `Unset ${listKeys(keys)}`, actor);
      } finally {
        lock.release();
      }
    },

    async get(name, key, actor) {
      if (!actor.terminal) {
        throw new ForbiddenError('config:get shows a secret value, so it only works on the VPS terminal', `run: pvdify config:get ${name} ${key}`);
      }
      validateConfigKeys([key]);
      const app = requireApp(deps, name);
      const { values } = await currentConfig(deps, app);
      const value = values[key];
      if (value === undefined) throw new NotFoundError(`${key} is not set on ${app.name}`, `see the keys with: config ${app.name}`);
      return value;
    },
  };
}

