/**
 * The Router port over Caddy: the whole config is rendered from the routing table, written to
 * `router/caddy.json` (so a restarted Caddy serves the same table) and loaded through the admin
 * API in one `POST /load`. Caddy starts the new servers on the same listeners before it shuts
 * the old ones down gracefully, so requests in flight to old upstreams complete.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../core/ports/clock.ts';
import type { RouteSpec, Router } from '../../core/ports/runtime.ts';
import { createCaddyAdminClient } from './admin-client.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { renderCaddyConfig, routesFromCaddyConfig, type CaddyRenderOptions } from './caddy-config.ts';

export interface CaddyRouterOptions {
  stateDir: string;
  /** `unix//abs/path.sock` or `127.0.0.1:<port>`, the same as in the running Caddy's config. */
  adminAddress: string;
  log: Logger;
  /** Health check and retry timings (defaults in caddy-config.ts). */
  render?: Omit<CaddyRenderOptions, 'adminListen'>;
  adminTimeoutMs?: number;
}

export function caddyConfigPath(stateDir: string): string {
  return join(stateDir, 'router', 'caddy.json');
}

export function createCaddyRouter(opts: CaddyRouterOptions): Router {
  const admin = createCaddyAdminClient(opts.adminAddress, { timeoutMs: opts.adminTimeoutMs });
  const file = caddyConfigPath(opts.stateDir);
  const log = opts.log.child({ component: 'caddy-router' });
  // Two applies racing could leave the file and the running config on different tables.
  let queue: Promise<unknown> = Promise.resolve();

  async function apply(routes: RouteSpec[]): Promise<void> {
    const config = renderCaddyConfig(routes, { ...opts.render, adminListen: opts.adminAddress });
    const text = `${JSON.stringify(config, null, 2)}\n`;
    const previous = await readFile(file, 'utf8').catch(() => null);
    // The file goes first: if we crash after the load, a restarted Caddy still serves this table.
    await writeFileAtomic(file, text);
    try {
      await admin.load(config);
    } catch (e) {
      // Caddy refused (or is down): put back the table it is still serving (or no file), so the
      // next `caddy run` does not start from a config that was never accepted.
      if (previous !== null) await writeFileAtomic(file, previous);
      else await rm(file, { force: true });
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
      return routesFromCaddyConfig(await admin.getConfig());
    },
  };
}
