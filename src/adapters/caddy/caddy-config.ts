/**
 * Pure rendering of the router's Caddy JSON config from the routing table, and the way back
 * (`routesFromCaddyConfig`) so `current()` reports what the running Caddy actually serves.
 *
 * One HTTP server per app, listening on 127.0.0.1:<bindPort>. Each server's first handler is a
 * `vars` handler carrying the app name and health path: that keeps the table recoverable from
 * the running config even for an app with zero upstreams (whose server only answers 503).
 */
import { ExternalToolError, InvalidInputError } from '../../core/errors.ts';
import { SLOT_NAME_RE } from '../../core/names.ts';
import type { RouteSpec } from '../../core/ports/runtime.ts';

/** Caddy server names are `pvdify-<app>`; servers without the prefix are not ours. */
export const SERVER_PREFIX = 'pvdify-';

const HEALTH_PATH_RE = /^\/[\x21-\x7e]{0,511}$/;
const GO_DURATION_RE = /^\d{1,6}(ms|s|m|h)$/;

/** Where Caddy's admin API listens: a unix socket or a loopback TCP port, nothing else. */
export type AdminAddress = { kind: 'unix'; socketPath: string; listen: string } | { kind: 'tcp'; host: '127.0.0.1'; port: number; listen: string };

export interface CaddyRenderOptions {
  /** `unix//abs/path/admin.sock` or `127.0.0.1:<port>`. */
  adminListen: string;
  /** Active health check interval (Go duration). Default `10s`. */
  healthInterval?: string;
  /** Active health check timeout. Default `5s`. */
  healthTimeout?: string;
  /** How long one request may spend retrying other upstreams after a dial error. Default `5s`. */
  tryDuration?: string;
  /**
   * Bound on how long a replaced config's servers may take to finish in-flight requests. Unset
   * by default, which Caddy reads as "until they are done": Caddy 2.6 shuts old servers down in
   * the background on a reload and cancels a finite grace period as soon as the reload returns,
   * which cuts requests still in flight (seen as `server shutdown: context canceled`).
   */
  gracePeriod?: string;
}

/** The slice of Caddy's JSON config this module writes (the whole document). */
export interface CaddyConfig {
  admin: { listen: string; config: { persist: false } };
  apps: { http: { grace_period?: string; servers: Record<string, CaddyServer> } };
}

export interface CaddyServer {
  listen: string[];
  automatic_https: { disable: true };
  routes: { handle: Record<string, unknown>[] }[];
}

export function parseAdminAddress(listen: string): AdminAddress {
  if (listen.startsWith('unix/')) {
    const socketPath = listen.slice('unix/'.length);
    // sun_path is 108 bytes on Linux, NUL included.
    if (!socketPath.startsWith('/') || /[\0\n\r]/.test(socketPath) || Buffer.byteLength(socketPath) > 107) {
      throw new InvalidInputError(`admin socket must be an absolute path of at most 107 bytes: ${JSON.stringify(listen)}`, 'use unix//var/lib/pvdify/router/admin.sock');
    }
    return { kind: 'unix', socketPath, listen };
  }
  const m = /^127\.0\.0\.1:(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[1]) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new InvalidInputError(
      `the router's admin API must listen on a unix socket or on 127.0.0.1, not ${JSON.stringify(listen)}`,
      'use unix//<state dir>/router/admin.sock or 127.0.0.1:2019',
    );
  }
  return { kind: 'tcp', host: '127.0.0.1', port, listen };
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Checks a routing table and returns it sorted by app; every problem is reported at once. */
export function validateRoutes(routes: readonly RouteSpec[]): RouteSpec[] {
  const problems: string[] = [];
  const apps = new Set<string>();
  const bindPorts = new Map<number, string>();
  routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (typeof r.app !== 'string' || !SLOT_NAME_RE.test(r.app)) problems.push(`${at}.app: not a valid app name`);
    else if (apps.has(r.app)) problems.push(`${at}.app: ${r.app} appears twice`);
    else apps.add(r.app);
    if (!isPort(r.bindPort)) problems.push(`${at}.bindPort: must be an integer in 1..65535`);
    else if (bindPorts.has(r.bindPort)) problems.push(`${at}.bindPort: ${r.bindPort} is already used by ${bindPorts.get(r.bindPort)}`);
    else bindPorts.set(r.bindPort, r.app);
    if (typeof r.healthPath !== 'string' || !HEALTH_PATH_RE.test(r.healthPath)) problems.push(`${at}.healthPath: must start with / and be printable ASCII`);
    if (!Array.isArray(r.upstreams)) problems.push(`${at}.upstreams: must be a list of ports`);
    else {
      r.upstreams.forEach((p, j) => {
        if (!isPort(p)) problems.push(`${at}.upstreams[${j}]: must be an integer in 1..65535`);
      });
      if (new Set(r.upstreams).size !== r.upstreams.length) problems.push(`${at}.upstreams: a port appears twice`);
    }
  });
  // An upstream on a router port would make Caddy proxy to itself.
  routes.forEach((r, i) => {
    if (!Array.isArray(r.upstreams)) return;
    for (const p of r.upstreams) {
      if (bindPorts.has(p)) problems.push(`routes[${i}].upstreams: ${p} is the router port of ${bindPorts.get(p)}`);
    }
  });
  if (problems.length > 0) throw new InvalidInputError(`invalid routing table: ${problems.join('; ')}`);
  return routes
    .map((r) => ({ app: r.app, bindPort: r.bindPort, upstreams: [...r.upstreams], healthPath: r.healthPath }))
    .sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
}

function duration(value: string | undefined, fallback: string, field: string): string {
  const v = value ?? fallback;
  if (!GO_DURATION_RE.test(v)) throw new InvalidInputError(`${field} must look like 500ms, 5s or 1m, got ${JSON.stringify(v)}`);
  return v;
}

/** The body an app without running instances answers with (status 503). */
export function noUpstreamBody(app: string): string {
  return `503 Service Unavailable: app ${app} has no running web instances (deploy it, or scale web above 0)\n`;
}

function serverFor(route: RouteSpec, d: { interval: string; timeout: string; tryDuration: string }): CaddyServer {
  const meta = { handler: 'vars', pvdify_app: route.app, pvdify_health_path: route.healthPath };
  const handler: Record<string, unknown> =
    route.upstreams.length === 0
      ? {
          handler: 'static_response',
          status_code: 503,
          headers: { 'Content-Type': ['text/plain; charset=utf-8'], 'Retry-After': ['5'], 'Cache-Control': ['no-store'] },
          body: noUpstreamBody(route.app),
        }
      : {
          handler: 'reverse_proxy',
          upstreams: route.upstreams.map((p) => ({ dial: `127.0.0.1:${p}` })),
          load_balancing: {
            selection_policy: { policy: 'round_robin' },
            // A dial error (an instance that just stopped) is retried on the next upstream.
            try_duration: d.tryDuration,
            try_interval: '100ms',
            retries: Math.max(3, 2 * route.upstreams.length),
            // So is an idempotent request whose pooled connection the instance closed as it
            // shut down; anything else is not replayed, as it may have had an effect.
            retry_match: [{ method: ['GET', 'HEAD', 'OPTIONS'] }],
          },
          health_checks: {
            active: { uri: route.healthPath, interval: d.interval, timeout: d.timeout },
            passive: { fail_duration: '10s', max_fails: 1 },
          },
        };
  return {
    listen: [`127.0.0.1:${route.bindPort}`],
    automatic_https: { disable: true },
    routes: [{ handle: [meta, handler] }],
  };
}

/** The complete Caddy config for `routes` (validated first). Deterministic: same input, same JSON. */
export function renderCaddyConfig(routes: readonly RouteSpec[], opts: CaddyRenderOptions): CaddyConfig {
  const admin = parseAdminAddress(opts.adminListen);
  const sorted = validateRoutes(routes);
  const d = {
    interval: duration(opts.healthInterval, '10s', 'healthInterval'),
    timeout: duration(opts.healthTimeout, '5s', 'healthTimeout'),
    tryDuration: duration(opts.tryDuration, '5s', 'tryDuration'),
  };
  const servers: Record<string, CaddyServer> = {};
  for (const r of sorted) servers[`${SERVER_PREFIX}${r.app}`] = serverFor(r, d);
  return {
    // persist=false: caddy.json in the state dir is the only saved copy, not Caddy's autosave.
    admin: { listen: admin.listen, config: { persist: false } },
    apps: { http: opts.gracePeriod === undefined ? { servers } : { grace_period: duration(opts.gracePeriod, '30s', 'gracePeriod'), servers } },
  };
}

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

function portOf(addr: unknown): number | null {
  if (typeof addr !== 'string') return null;
  const m = /^(?:tcp\/)?127\.0\.0\.1:(\d{1,5})$/.exec(addr);
  const n = m ? Number(m[1]) : NaN;
  return isPort(n) ? n : null;
}

/**
 * The routing table a Caddy config (as `GET /config/` returns it) serves. Servers without the
 * `pvdify-` prefix are ignored; one of ours in an unexpected shape means the config was edited
 * by hand, which is reported rather than guessed around.
 */
export function routesFromCaddyConfig(config: unknown): RouteSpec[] {
  const servers = obj(obj(obj(obj(config)?.apps)?.http)?.servers) ?? {};
  const out: RouteSpec[] = [];
  for (const [name, value] of Object.entries(servers)) {
    if (!name.startsWith(SERVER_PREFIX)) continue;
    const bad = (what: string): never => {
      throw new ExternalToolError('caddy', `running config: server ${name} ${what}`, 'run `pvdifyd router start` or redeploy to rewrite the router config');
    };
    const server = obj(value) ?? bad('is not an object');
    const listen = server.listen;
    const bindPort = Array.isArray(listen) && listen.length === 1 ? portOf(listen[0]) : null;
    if (bindPort === null) bad('does not listen on one 127.0.0.1 port');
    const routes = server.routes;
    const handle = Array.isArray(routes) ? obj(routes[0])?.handle : undefined;
    if (!Array.isArray(handle)) bad('has no handlers');
    const handlers = (handle as unknown[]).map((h) => obj(h) ?? {});
    const meta = handlers.find((h) => h.handler === 'vars' && typeof h.pvdify_app === 'string');
    if (!meta || typeof meta.pvdify_health_path !== 'string') bad('lacks the pvdify vars handler');
    const proxy = handlers.find((h) => h.handler === 'reverse_proxy');
    const upstreams: number[] = [];
    if (proxy) {
      if (!Array.isArray(proxy.upstreams)) bad('has a reverse_proxy without upstreams');
      for (const u of proxy.upstreams as unknown[]) {
        const p = portOf(obj(u)?.dial);
        if (p === null) bad('proxies to an address that is not 127.0.0.1:<port>');
        upstreams.push(p as number);
      }
    }
    out.push({ app: String(meta?.pvdify_app), bindPort: bindPort as number, upstreams, healthPath: String(meta?.pvdify_health_path) });
  }
  return out.sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
}
