/**
 * Pure rendering of the router's two Caddy configs from the routing table, and the way back
 * (`routesFromCaddyConfig`) so `current()` reports what the running Caddy actually serves.
 *
 * The router is two Caddy processes, so that a deploy never touches a TCP listener:
 *
 *   front (`router/front.json`)  one server per app on 127.0.0.1:<bindPort> (cloudflared's
 *                                target), proxying every request to the app's unix socket. It
 *                                changes only when an app is created or deleted.
 *   apps  (`router/caddy.json`)  one server per app on `router/sock/<app>.sock`, reverse proxy
 *                                to the live colour's instance ports with health checks. Every
 *                                switch reloads it.
 *
 * Why: on a reload Caddy 2.6 opens a *new* TCP socket with SO_REUSEPORT and closes the old one,
 * and Linux resets the connections still queued on the closed socket; its unix sockets are
 * instead handed over as the same socket (a dup'd fd), so nothing queued is lost. The front
 * opens a fresh unix connection per request (no keep-alive), so a reload of the apps tier never
 * closes a connection a request is about to use.
 *
 * Each apps-tier server's first handler is a `vars` handler carrying the app name, router port
 * and health path: that keeps the table recoverable from the running config even for an app with
 * zero upstreams (whose server only answers 503).
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
  /** Absolute directory of the per-app unix sockets between the two tiers (`router/sock`). */
  socketDir: string;
  /** Caddy's own log, rolled by Caddy (see `loggingTo`); unset: stderr. */
  logFile?: string;
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
  logging?: { logs: { default: { writer: Record<string, unknown> } } };
  apps: { http: { grace_period?: string; servers: Record<string, CaddyServer> } };
}

/** Log rolling: Caddy logs every reload and health change; months of deploys must not fill a disk. */
export const LOG_ROLL = { sizeMb: 10, keep: 5 } as const;

/** Caddy's default log to `file`, rolled at LOG_ROLL.sizeMb and LOG_ROLL.keep files kept, gzipped. */
function loggingTo(file: string | undefined): Pick<CaddyConfig, 'logging'> {
  if (file === undefined) return {};
  if (!file.startsWith('/')) throw new InvalidInputError(`the router log must be an absolute path, got ${JSON.stringify(file)}`);
  return { logging: { logs: { default: { writer: { output: 'file', filename: file, roll_size_mb: LOG_ROLL.sizeMb, roll_keep: LOG_ROLL.keep, roll_gzip: true } } } } };
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

/** The unix socket the apps tier serves `app` on, and the front proxies `app`'s port to. */
export function appSocketPath(socketDir: string, app: string): string {
  const path = `${socketDir.replace(/\/+$/, '')}/${app}.sock`;
  if (!path.startsWith('/') || Buffer.byteLength(path) > 107) {
    throw new InvalidInputError(
      `the router socket ${JSON.stringify(path)} is longer than the 107 bytes a unix socket path may have`,
      'use a shorter state directory (PVDIFY_STATE_DIR), such as /var/lib/pvdify',
    );
  }
  return path;
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

function serverFor(route: RouteSpec, socketDir: string, d: { interval: string; timeout: string; tryDuration: string }): CaddyServer {
  const meta = { handler: 'vars', pvdify_app: route.app, pvdify_bind_port: route.bindPort, pvdify_health_path: route.healthPath };
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
          // A request arriving over the unix socket has no client address, so Caddy would drop
          // the X-Forwarded-* headers; the front (the only writer of this socket) set them.
          headers: { request: { set: Object.fromEntries(FORWARDED_HEADERS.map((h) => [h, [`{http.request.header.${h}}`]])) } },
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
    listen: [`unix/${appSocketPath(socketDir, route.app)}`],
    automatic_https: { disable: true },
    routes: [{ handle: [meta, handler] }],
  };
}

const FORWARDED_HEADERS = ['X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host'] as const;

/** The apps tier's config for `routes` (validated first). Deterministic: same input, same JSON. */
export function renderCaddyConfig(routes: readonly RouteSpec[], opts: CaddyRenderOptions): CaddyConfig {
  const admin = parseAdminAddress(opts.adminListen);
  const sorted = validateRoutes(routes);
  const d = {
    interval: duration(opts.healthInterval, '10s', 'healthInterval'),
    timeout: duration(opts.healthTimeout, '5s', 'healthTimeout'),
    tryDuration: duration(opts.tryDuration, '5s', 'tryDuration'),
  };
  const servers: Record<string, CaddyServer> = {};
  for (const r of sorted) servers[`${SERVER_PREFIX}${r.app}`] = serverFor(r, opts.socketDir, d);
  return {
    // persist=false: caddy.json in the state dir is the only saved copy, not Caddy's autosave.
    admin: { listen: admin.listen, config: { persist: false } },
    ...loggingTo(opts.logFile),
    apps: { http: opts.gracePeriod === undefined ? { servers } : { grace_period: duration(opts.gracePeriod, '30s', 'gracePeriod'), servers } },
  };
}

export interface FrontRenderOptions {
  /** The front's own admin API (`unix//<state>/router/front-admin.sock`). */
  adminListen: string;
  socketDir: string;
  /** As for the apps tier. */
  logFile?: string;
  /**
   * How long a request waits for the apps tier's socket to accept (while that Caddy restarts).
   * Default `10s`.
   */
  tryDuration?: string;
}

/**
 * The front tier's config: 127.0.0.1:<bindPort> → the app's unix socket. It depends only on the
 * set of (app, bindPort), so deploys, scaling and restarts leave it (and its TCP listeners) alone.
 */
export function renderFrontConfig(routes: readonly RouteSpec[], opts: FrontRenderOptions): CaddyConfig {
  const admin = parseAdminAddress(opts.adminListen);
  const tryDuration = duration(opts.tryDuration, '10s', 'tryDuration');
  const servers: Record<string, CaddyServer> = {};
  for (const r of validateRoutes(routes)) {
    servers[`${SERVER_PREFIX}${r.app}`] = {
      listen: [`127.0.0.1:${r.bindPort}`],
      automatic_https: { disable: true },
      routes: [
        {
          handle: [
            {
              handler: 'reverse_proxy',
              upstreams: [{ dial: `unix/${appSocketPath(opts.socketDir, r.app)}` }],
              // One connection per request: an apps-tier reload then never closes a pooled
              // connection under a request (unix connects cost microseconds).
              transport: { protocol: 'http', keep_alive: { enabled: false } },
              // Only dial errors are retried (nothing was sent): the apps tier restarting.
              load_balancing: { try_duration: tryDuration, try_interval: '50ms' },
            },
          ],
        },
      ],
    };
  }
  return { admin: { listen: admin.listen, config: { persist: false } }, ...loggingTo(opts.logFile), apps: { http: { servers } } };
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
    if (!(Array.isArray(listen) && listen.length === 1 && typeof listen[0] === 'string' && listen[0].startsWith('unix/'))) bad('does not listen on one unix socket');
    const routes = server.routes;
    const handle = Array.isArray(routes) ? obj(routes[0])?.handle : undefined;
    if (!Array.isArray(handle)) bad('has no handlers');
    const handlers = (handle as unknown[]).map((h) => obj(h) ?? {});
    const meta = handlers.find((h) => h.handler === 'vars' && typeof h.pvdify_app === 'string');
    if (!meta || typeof meta.pvdify_health_path !== 'string') bad('lacks the pvdify vars handler');
    const bindPort = isPort(meta?.pvdify_bind_port) ? meta.pvdify_bind_port : bad('has no router port in its vars handler');
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
    out.push({ app: String(meta?.pvdify_app), bindPort, upstreams, healthPath: String(meta?.pvdify_health_path) });
  }
  return out.sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
}
