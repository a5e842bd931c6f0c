/**
 * The Router port over Caddy's two tiers (see caddy-config.ts): the apps tier's config is
 * rendered from the routing table, written to `router/caddy.json` (so a restarted Caddy serves the
 * same table) and loaded through its admin API in one `POST /load`; the front tier's config
 * (`router/front.json`) is rewritten and loaded only when the set of apps or router ports
 * changed, so a deploy never reloads a TCP listener. Caddy starts the new servers before it shuts
 * the old ones down gracefully, so requests in flight to old upstreams complete.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../core/ports/clock.ts';
import type { RouteSpec, Router } from '../../core/ports/runtime.ts';
import { createCaddyAdminClient, type CaddyAdminClient } from './admin-client.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { renderCaddyConfig, renderFrontConfig, routesFromCaddyConfig, type CaddyRenderOptions } from './caddy-config.ts';

export interface CaddyRouterOptions {
  stateDir: string;
  /** The apps tier's admin API: `unix//abs/path.sock` or `127.0.0.1:<port>`, as in its config. */
  adminAddress: string;
  log: Logger;
  /** Health check and retry timings (defaults in caddy-config.ts). */
  render?: Omit<CaddyRenderOptions, 'adminListen' | 'socketDir' | 'logFile'>;
  adminTimeoutMs?: number;
}

/** The apps tier's config (the routing table). */
export function caddyConfigPath(stateDir: string): string {
  return join(stateDir, 'router', 'caddy.json');
}

/** The front tier's config (router ports → app sockets). */
export function frontConfigPath(stateDir: string): string {
  return join(stateDir, 'router', 'front.json');
}

/** The front tier's admin API: always a unix socket beside its config. */
export function frontAdminAddress(stateDir: string): string {
  return `unix/${join(stateDir, 'router', 'front-admin.sock')}`;
}

/** Where the apps tier listens, one socket per app. */
export function routerSocketDir(stateDir: string): string {
  return join(stateDir, 'router', 'sock');
}

/** The router's two Caddy processes, in start order (the front proxies to the apps tier). */
export type RouterTierName = 'apps' | 'front';
export const ROUTER_TIERS: readonly RouterTierName[] = ['apps', 'front'];

/** Caddy's running log of a tier, rolled by Caddy itself (stderr keeps only start-up and crashes). */
export function routerLogPath(stateDir: string, tier: RouterTierName): string {
  return join(stateDir, 'router', 'logs', `${tier}.log`);
}

export function routerConfigPath(stateDir: string, tier: RouterTierName): string {
  return tier === 'apps' ? caddyConfigPath(stateDir) : frontConfigPath(stateDir);
}

/** Where a tier's config lives and where its admin API answers (the apps tier's is configurable). */
export function routerTier(stateDir: string, appsAdminAddress: string, tier: RouterTierName): { configPath: string; adminAddress: string } {
  return { configPath: routerConfigPath(stateDir, tier), adminAddress: tier === 'apps' ? appsAdminAddress : frontAdminAddress(stateDir) };
}

/** Both tiers' configs for a table; throws (InvalidInputError) before anything is written. */
export function renderRouterConfigs(routes: readonly RouteSpec[], o: { stateDir: string; adminAddress: string; render?: CaddyRouterOptions['render'] }) {
  const socketDir = routerSocketDir(o.stateDir);
  return {
    apps: renderCaddyConfig(routes, { ...o.render, adminListen: o.adminAddress, socketDir, logFile: routerLogPath(o.stateDir, 'apps') }),
    front: renderFrontConfig(routes, { adminListen: frontAdminAddress(o.stateDir), socketDir, logFile: routerLogPath(o.stateDir, 'front') }),
  };
}

const asText = (config: unknown): string => `${JSON.stringify(config, null, 2)}\n`;

interface Tier {
  file: string;
  admin: CaddyAdminClient;
}

export function createCaddyRouter(opts: CaddyRouterOptions): Router {
  const tier = (name: RouterTierName): Tier => {
    const t = routerTier(opts.stateDir, opts.adminAddress, name);
    return { file: t.configPath, admin: createCaddyAdminClient(t.adminAddress, { timeoutMs: opts.adminTimeoutMs }) };
  };
  const apps = tier('apps');
  const front = tier('front');
  const log = opts.log.child({ component: 'caddy-router' });
  // Two applies racing could leave the files and the running configs on different tables.
  let queue: Promise<unknown> = Promise.resolve();

  /**
   * Writes and loads one tier's config. The file goes first: if we crash after the load, a
   * restarted Caddy still serves this table. If Caddy refuses (or is down), the file it is still
   * serving is put back (or none), so the next `caddy run` does not start from a config that was
   * never accepted. Returns how to undo a successful load; null when nothing changed.
   */
  async function load(tier: Tier, text: string, config: unknown, force: boolean): Promise<(() => Promise<void>) | null> {
    const previous = await readFile(tier.file, 'utf8').catch(() => null);
    if (!force && previous === text) return null;
    const restoreFile = async () => {
      if (previous !== null) await writeFileAtomic(tier.file, previous);
      else await rm(tier.file, { force: true });
    };
    await writeFileAtomic(tier.file, text);
    try {
      await tier.admin.load(config);
    } catch (e) {
      await restoreFile();
      throw e;
    }
    return async () => {
      await restoreFile();
      if (previous !== null) await tier.admin.load(JSON.parse(previous) as unknown);
    };
  }

  async function apply(routes: RouteSpec[]): Promise<void> {
    const configs = renderRouterConfigs(routes, { stateDir: opts.stateDir, adminAddress: opts.adminAddress, render: opts.render });
    // The apps tier first: the front proxies to the sockets it opens.
    let undoApps: (() => Promise<void>) | null = null;
    try {
      undoApps = await load(apps, asText(configs.apps), configs.apps, true);
      await load(front, asText(configs.front), configs.front, false);
    } catch (e) {
      // The front refused (a router port taken by something else): the apps tier goes back to
      // the table the front still matches.
      if (undoApps) await undoApps().catch((u: unknown) => log.error({ err: (u as Error).message }, 'could not restore the apps tier after the front refused'));
      log.error({ err: (e as Error).message, apps: routes.length }, 'router config refused');
      throw e;
    }
    log.info({ apps: routes.map((r) => ({ app: r.app, upstreams: r.upstreams })) }, 'router config applied');
  }

  return {
    kind: 'caddy',
    apply(routes) {
      const run = queue.then(() => apply(routes));
      queue = run.catch(() => {});
      return run;
    },
    async current() {
      return routesFromCaddyConfig(await apps.admin.getConfig());
    },
  };
}
