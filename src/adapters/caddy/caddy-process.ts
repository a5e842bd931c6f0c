/**
 * Running the router: two Caddy processes (see caddy-config.ts for why), each
 * `caddy run --config <stateDir>/router/<config>`:
 *
 *   apps   router/caddy.json, caddy.pid, caddy.log — admin API at the configured address
 *   front  router/front.json, front.pid, front.log — admin API at router/front-admin.sock
 *
 * `<tier>.log` gets Caddy's stdout/stderr: start-up before the config is read, and crashes. Once
 * running, Caddy writes its log to router/logs/<tier>.log and rolls it (caddy-config.ts).
 *
 * The apps tier starts first (the front proxies to its sockets) and stops last. Everything
 * below acts on both; a router "runs" when both do.
 *
 * Two ways, one pidfile per tier (the pid, then `detached` or `supervised <pid>`):
 * - `createCaddyProcess` (used by `pvdifyd serve`): Caddy is our child; if it dies it is
 *   restarted with exponential backoff; `stop()` sends SIGTERM, then SIGKILL after a timeout.
 * - `startRouterDetached` (used by `pvdifyd router start`): Caddy is spawned in its own session
 *   (setsid) with stdio on `router/caddy.log` and unreferenced, so it outlives the command. Nothing
 *   restarts it; `pvdifyd router stop` finds it through the pidfile. On a host with systemd, the
 *   supervised mode under `pvdifyd.service` is the one to use.
 *
 * A pid is trusted only while `/proc/<pid>/cmdline` still names our config file, so a recycled
 * pid is never signalled. Caddy gets a minimal environment: no secret of pvdifyd reaches it.
 */
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { ConflictError, ExternalToolError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import { createCaddyAdminClient } from './admin-client.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { parseAdminAddress, routesFromCaddyConfig } from './caddy-config.ts';
import { ROUTER_TIERS, frontAdminAddress, renderRouterConfigs, routerConfigPath, routerLogPath, routerSocketDir, routerTier, type RouterTierName } from './caddy-router.ts';
import { enableListenerHandover } from '../host/listener-handover.ts';
import { terminate } from '../terminate.ts';

type CaddyChild = ReturnType<typeof spawnCaddy>;

export interface RouterProcessOptions {
  stateDir: string;
  caddyPath: string;
  /** `unix//abs/path.sock` or `127.0.0.1:<port>`. */
  adminAddress: string;
  log?: Logger;
  /** How long to wait for the admin API after spawning. Default 15 s. */
  readyTimeoutMs?: number;
  /** How long SIGTERM gets before SIGKILL. Default 10 s. */
  stopTimeoutMs?: number;
}


export interface TierStatus {
  running: boolean;
  pid: number | null;
  mode: 'detached' | 'supervised' | null;
  adminReachable: boolean;
  configPath: string;
  pidFile: string;
  /** Caddy's stdout/stderr: start-up and crashes. */
  logFile: string;
  /** Caddy's running log, rolled by Caddy. */
  runLog: string;
  /** A pidfile named a process that is gone (start and stop clean it up). */
  stalePidFile: boolean;
}

/** The apps tier's figures at the top level (pid, mode, files); both tiers under `tiers`. */
export interface RouterStatus extends TierStatus {
  tiers: Record<RouterTierName, TierStatus>;
}

interface PidFile {
  pid: number;
  mode: 'detached' | 'supervised';
  owner: number | null;
}

const paths = (stateDir: string, tier: RouterTierName = 'apps') => ({
  dir: join(stateDir, 'router'),
  config: routerConfigPath(stateDir, tier),
  pid: join(stateDir, 'router', tier === 'apps' ? 'caddy.pid' : 'front.pid'),
  log: join(stateDir, 'router', tier === 'apps' ? 'caddy.log' : 'front.log'),
});

function adminOf(opts: RouterProcessOptions, tier: RouterTierName): string {
  return routerTier(opts.stateDir, opts.adminAddress, tier).adminAddress;
}

async function readPidFile(file: string): Promise<PidFile | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  const [pidLine = '', modeLine = ''] = text.split('\n');
  const pid = Number(pidLine.trim());
  if (!Number.isInteger(pid) || pid <= 1) return null;
  const [mode, owner] = modeLine.trim().split(/\s+/);
  return { pid, mode: mode === 'supervised' ? 'supervised' : 'detached', owner: owner ? Number(owner) || null : null };
}

async function writePidFile(file: string, p: PidFile): Promise<void> {
  await writeFileAtomic(file, `${p.pid}\n${p.mode}${p.owner ? ` ${p.owner}` : ''}\n`);
}

/** True while `pid` is a live (not zombie) Caddy running our config file. */
export async function isRouterProcess(pid: number, configPath: string): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : null));
  if (cmdline === null) return true; // no /proc to ask: kill(0) is all we know
  return cmdline.split('\0').includes(configPath);
}

async function readJsonObject(file: string): Promise<Record<string, unknown> | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Makes sure both tiers' configs exist and name their admin endpoints, so `caddy run` comes up
 * with an admin API we can reach. A missing apps config starts as an empty table; a missing
 * front config is derived from the apps config (the same apps on the same ports), so a router
 * restarted from its files serves what it served before. Returns the apps config's path.
 */
export async function ensureRouterConfig(stateDir: string, adminAddress: string): Promise<string> {
  const p = paths(stateDir, 'apps');
  parseAdminAddress(adminAddress);
  await mkdir(routerSocketDir(stateDir), { recursive: true, mode: 0o750 });
  await mkdir(dirname(routerLogPath(stateDir, 'apps')), { recursive: true, mode: 0o750 });
  const apps = await readJsonObject(p.config);
  if (apps === null) {
    // Missing or unreadable: start empty; the next apply from the app slots fills it in.
    await writeFileAtomic(p.config, `${JSON.stringify(renderRouterConfigs([], { stateDir, adminAddress }).apps, null, 2)}\n`);
  } else {
    const admin = (apps.admin ?? {}) as Record<string, unknown>;
    if (admin.listen !== adminAddress) {
      apps.admin = { ...admin, listen: adminAddress, config: { persist: false } };
      await writeFileAtomic(p.config, `${JSON.stringify(apps, null, 2)}\n`);
    }
  }
  const frontFile = paths(stateDir, 'front').config;
  const front = await readJsonObject(frontFile);
  if (front === null || (front.admin as Record<string, unknown> | undefined)?.listen !== frontAdminAddress(stateDir)) {
    let routes: ReturnType<typeof routesFromCaddyConfig> = [];
    try {
      routes = routesFromCaddyConfig(apps);
    } catch {
      // An apps config in a shape we did not write: the front starts empty until the next apply.
    }
    await writeFileAtomic(frontFile, `${JSON.stringify(renderRouterConfigs(routes, { stateDir, adminAddress }).front, null, 2)}\n`);
  }
  return p.config;
}

function caddyEnv(stateDir: string): Record<string, string> {
  const dir = paths(stateDir).dir;
  return {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
  };
}

async function logTail(file: string, lines = 3): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const picked = text.trim().split('\n').slice(-lines).map((l) => {
    try {
      const j = JSON.parse(l) as { msg?: string; error?: string };
      return [j.msg, j.error].filter(Boolean).join(': ');
    } catch {
      return l;
    }
  });
  return picked.join(' | ').slice(0, 800);
}

/** Unix socket left behind by a Caddy that was killed: Caddy would fail to bind it. */
async function removeStaleSocket(adminAddress: string): Promise<void> {
  const a = parseAdminAddress(adminAddress);
  if (a.kind === 'unix') await rm(a.socketPath, { force: true });
}

function spawnCaddy(opts: RouterProcessOptions, detached: boolean, tier: RouterTierName) {
  const p = paths(opts.stateDir, tier);
  // An fd (not execa's `{file}`, which pipes through this process) so a detached Caddy keeps
  // its log after we exit. execa's types only list fds 3-9; at runtime any open fd is passed on.
  const fd = openSync(p.log, 'a', 0o640) as 3;
  try {
    const options = {
      cwd: p.dir,
      env: caddyEnv(opts.stateDir),
      extendEnv: false,
      stdin: 'ignore',
      stdout: fd,
      stderr: fd,
      reject: false,
      buffer: false,
    } as const;
    // Detached: its own session, and not killed when this process exits.
    return detached
      ? execa(opts.caddyPath, ['run', '--config', p.config], { ...options, detached: true, cleanup: false })
      : execa(opts.caddyPath, ['run', '--config', p.config], { ...options, detached: false, cleanup: true });
  } finally {
    closeSync(fd);
  }
}

async function waitForAdmin(opts: RouterProcessOptions, tier: RouterTierName, alive: () => Promise<boolean>): Promise<void> {
  const admin = createCaddyAdminClient(adminOf(opts, tier), { timeoutMs: 2000 });
  const deadline = performance.now() + (opts.readyTimeoutMs ?? 15_000);
  while (performance.now() < deadline) {
    if (await admin.ping()) return;
    if (!(await alive())) {
      const log = paths(opts.stateDir, tier).log;
      throw new ExternalToolError('caddy', `caddy (${tier} tier) exited while starting: ${await logTail(log)}`, `see ${log}`);
    }
    await delay(25);
  }
  throw new ExternalToolError('caddy', `caddy's admin API (${tier} tier) did not answer within ${opts.readyTimeoutMs ?? 15_000} ms`, `see ${paths(opts.stateDir, tier).log}`);
}

async function liveRouter(opts: RouterProcessOptions, tier: RouterTierName): Promise<{ pidFile: PidFile | null; live: boolean }> {
  const p = paths(opts.stateDir, tier);
  const pidFile = await readPidFile(p.pid);
  if (pidFile === null) return { pidFile, live: false };
  return { pidFile, live: await isRouterProcess(pidFile.pid, p.config) };
}

async function killAndWait(pid: number, configPath: string, timeoutMs: number): Promise<{ forced: boolean }> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
    }
  };
  signal('SIGTERM');
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (!(await isRouterProcess(pid, configPath))) return { forced: false };
    await delay(50);
  }
  signal('SIGKILL');
  const killDeadline = performance.now() + 5000;
  while (performance.now() < killDeadline) {
    if (!(await isRouterProcess(pid, configPath))) return { forced: true };
    await delay(50);
  }
  throw new ExternalToolError('caddy', `caddy (pid ${pid}) did not exit after SIGKILL`);
}

async function tierStatus(opts: RouterProcessOptions, tier: RouterTierName): Promise<TierStatus> {
  const p = paths(opts.stateDir, tier);
  const { pidFile, live } = await liveRouter(opts, tier);
  const adminReachable = await createCaddyAdminClient(adminOf(opts, tier), { timeoutMs: 2000 }).ping();
  return {
    running: live,
    pid: live && pidFile ? pidFile.pid : null,
    mode: live && pidFile ? pidFile.mode : null,
    adminReachable,
    configPath: p.config,
    pidFile: p.pid,
    logFile: p.log,
    runLog: routerLogPath(opts.stateDir, tier),
    stalePidFile: pidFile !== null && !live,
  };
}

/** `pvdifyd router status`: running and reachable only when both tiers are. */
export async function routerStatus(opts: RouterProcessOptions): Promise<RouterStatus> {
  const [apps, front] = await Promise.all(ROUTER_TIERS.map((t) => tierStatus(opts, t))) as [TierStatus, TierStatus];
  return {
    ...apps,
    running: apps.running && front.running,
    adminReachable: apps.adminReachable && front.adminReachable,
    stalePidFile: apps.stalePidFile || front.stalePidFile,
    tiers: { apps, front },
  };
}

async function startTierDetached(opts: RouterProcessOptions, tier: RouterTierName): Promise<{ pid: number; alreadyRunning: boolean }> {
  const p = paths(opts.stateDir, tier);
  const log = (opts.log ?? silentLogger).child({ component: 'caddy-process', tier });
  const { pidFile, live } = await liveRouter(opts, tier);
  if (live && pidFile) return { pid: pidFile.pid, alreadyRunning: true };
  await removeStaleSocket(adminOf(opts, tier));
  const child = spawnCaddy(opts, true, tier);
  const pid = child.pid;
  if (pid === undefined) {
    const r = await child;
    throw new ExternalToolError('caddy', `cannot start ${opts.caddyPath}: ${r.shortMessage ?? 'spawn failed'}`);
  }
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  child.unref();
  await writePidFile(p.pid, { pid, mode: 'detached', owner: null });
  try {
    await waitForAdmin(opts, tier, async () => !exited && (await isRouterProcess(pid, p.config)));
  } catch (e) {
    if (!exited) await killAndWait(pid, p.config, opts.stopTimeoutMs ?? 10_000).catch(() => {});
    await rm(p.pid, { force: true });
    throw e;
  }
  log.info({ pid }, 'router tier started (detached)');
  return { pid, alreadyRunning: false };
}

/**
 * `pvdifyd router start`: starts whichever tier is not running, detached, and returns once both
 * admin APIs answer; `pid` is the apps tier's. A router already running is left alone.
 */
export async function startRouterDetached(opts: RouterProcessOptions): Promise<{ pid: number; alreadyRunning: boolean }> {
  await mkdir(paths(opts.stateDir).dir, { recursive: true });
  await ensureRouterConfig(opts.stateDir, opts.adminAddress);
  await enableListenerHandover(opts.log ?? silentLogger);
  const apps = await startTierDetached(opts, 'apps');
  const front = await startTierDetached(opts, 'front');
  return { pid: apps.pid, alreadyRunning: apps.alreadyRunning && front.alreadyRunning };
}

/** Refuses when a live `pvdifyd serve` other than us supervises this tier: it would restart it. */
async function refuseIfSupervised(opts: RouterProcessOptions, tier: RouterTierName): Promise<void> {
  const { pidFile, live } = await liveRouter(opts, tier);
  if (live && pidFile?.mode === 'supervised' && pidFile.owner !== null && pidFile.owner !== process.pid && processExists(pidFile.owner)) {
    throw new ConflictError(`the router is supervised by pvdifyd serve (pid ${pidFile.owner})`, 'stop the pvdifyd service instead');
  }
}

async function stopTier(opts: RouterProcessOptions, tier: RouterTierName): Promise<{ stopped: boolean; pid: number | null; forced: boolean }> {
  const p = paths(opts.stateDir, tier);
  const log = (opts.log ?? silentLogger).child({ component: 'caddy-process', tier });
  const { pidFile, live } = await liveRouter(opts, tier);
  if (pidFile === null || !live) {
    await rm(p.pid, { force: true });
    return { stopped: false, pid: null, forced: false };
  }
  const { forced } = await killAndWait(pidFile.pid, p.config, opts.stopTimeoutMs ?? 10_000);
  await rm(p.pid, { force: true });
  log.info({ pid: pidFile.pid, forced }, 'router tier stopped');
  return { stopped: true, pid: pidFile.pid, forced };
}

/**
 * `pvdifyd router stop`: SIGTERM to each tier named by its pidfile (front first), SIGKILL after
 * the timeout; `pid` is the apps tier's. A router supervised by a running `pvdifyd serve` is
 * refused: that supervisor would restart it.
 */
export async function stopRouter(opts: RouterProcessOptions): Promise<{ stopped: boolean; pid: number | null; forced: boolean }> {
  for (const tier of ROUTER_TIERS) await refuseIfSupervised(opts, tier);
  const front = await stopTier(opts, 'front');
  const apps = await stopTier(opts, 'apps');
  return { stopped: apps.stopped || front.stopped, pid: apps.pid ?? front.pid, forced: apps.forced || front.forced };
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type CaddyProcessState = 'stopped' | 'starting' | 'running' | 'restarting' | 'stopping';

export interface TierProcessStatus {
  state: CaddyProcessState;
  pid: number | null;
  /** Unexpected exits since start(). */
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
}

/** The apps tier's figures at the top level, both tiers under `tiers`. */
export interface CaddyProcessStatus extends TierProcessStatus {
  tiers: Record<RouterTierName, TierProcessStatus>;
}

interface TierProcess {
  start(): Promise<void>;
  stop(): Promise<void>;
  status(): TierProcessStatus;
}

/** The router's two Caddy processes as supervised children of this process (`pvdifyd serve`). */
export interface CaddyProcess {
  /** Spawns both tiers and resolves once their admin APIs answer. */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after the timeout; no restart afterwards. */
  stop(): Promise<void>;
  status(): CaddyProcessStatus;
}

export interface CaddyProcessOptions extends RouterProcessOptions {
  /** First restart delay; doubles per consecutive crash up to `maxBackoffMs`. Default 500 ms. */
  initialBackoffMs?: number;
  /** Default 30 s. */
  maxBackoffMs?: number;
  /** A child that ran this long before dying resets the backoff. Default 30 s. */
  stableAfterMs?: number;
}

export function createCaddyProcess(opts: CaddyProcessOptions): CaddyProcess {
  const tiers = { apps: createTierProcess(opts, 'apps'), front: createTierProcess(opts, 'front') };
  return {
    async start() {
      const running = await Promise.all(ROUTER_TIERS.map((t) => liveRouter(opts, t)));
      const found = running.find((r) => r.live && r.pidFile);
      if (found?.pidFile) {
        throw new ConflictError(`a router is already running (pid ${found.pidFile.pid}, ${found.pidFile.mode})`, 'stop it with `pvdifyd router stop` first');
      }
      await mkdir(paths(opts.stateDir).dir, { recursive: true });
      await ensureRouterConfig(opts.stateDir, opts.adminAddress);
      await enableListenerHandover(opts.log ?? silentLogger);
      await tiers.apps.start();
      try {
        await tiers.front.start();
      } catch (e) {
        await tiers.apps.stop();
        throw e;
      }
    },
    async stop() {
      await tiers.front.stop();
      await tiers.apps.stop();
    },
    status() {
      const apps = tiers.apps.status();
      const front = tiers.front.status();
      return { ...apps, tiers: { apps, front } };
    },
  };
}

function createTierProcess(opts: CaddyProcessOptions, tier: RouterTierName): TierProcess {
  const p = paths(opts.stateDir, tier);
  const log = (opts.log ?? silentLogger).child({ component: 'caddy-process', tier });
  let state: CaddyProcessState = 'stopped';
  let child: CaddyChild | null = null;
  let restarts = 0;
  let crashes = 0;
  let lastExit: TierProcessStatus['lastExit'] = null;
  let timer: NodeJS.Timeout | null = null;
  let supervising = false;

  async function spawnOnce(): Promise<void> {
    await removeStaleSocket(adminOf(opts, tier));
    const c = spawnCaddy(opts, false, tier);
    child = c;
    const startedAt = performance.now();
    let exited = false;
    if (c.pid !== undefined) await writePidFile(p.pid, { pid: c.pid, mode: 'supervised', owner: process.pid });
    void c.then((r) => {
      exited = true;
      if (child === c) child = null;
      lastExit = { code: r.exitCode ?? null, signal: r.signal ?? null, at: new Date().toISOString() };
      // A failed first start is the caller's to report; only a router that came up is restarted.
      if (supervising && (state === 'running' || state === 'starting')) onCrash(performance.now() - startedAt);
    });
    await waitForAdmin(opts, tier, async () => !exited);
  }

  function onCrash(uptimeMs: number): void {
    restarts += 1;
    crashes = uptimeMs >= (opts.stableAfterMs ?? 30_000) ? 1 : crashes + 1;
    const wait = Math.min(opts.maxBackoffMs ?? 30_000, (opts.initialBackoffMs ?? 500) * 2 ** (crashes - 1));
    log.warn({ lastExit, restartInMs: wait, restarts }, 'caddy exited unexpectedly; restarting');
    state = 'restarting';
    timer = setTimeout(() => {
      timer = null;
      if (state !== 'restarting') return;
      state = 'starting';
      spawnOnce().then(
        () => {
          if (state === 'starting') state = 'running';
        },
        (e: unknown) => log.error({ err: (e as Error).message }, 'caddy restart failed'),
      );
    }, wait);
  }

  return {
    async start() {
      if (state !== 'stopped') throw new ConflictError(`the router is already ${state}`);
      state = 'starting';
      restarts = 0;
      crashes = 0;
      try {
        await spawnOnce();
      } catch (e) {
        state = 'stopping';
        await stopChild();
        state = 'stopped';
        throw e;
      }
      state = 'running';
      supervising = true;
      log.info({ pid: child?.pid }, 'router tier started');
    },
    async stop() {
      if (state === 'stopped') return;
      state = 'stopping';
      supervising = false;
      if (timer) clearTimeout(timer);
      timer = null;
      await stopChild();
      state = 'stopped';
      log.info('router tier stopped');
    },
    status() {
      return { state, pid: child?.pid ?? null, restarts, lastExit };
    },
  };

  async function stopChild(): Promise<void> {
    const c = child;
    if (c && (await terminate(c, c, opts.stopTimeoutMs ?? 10_000))) log.warn({ pid: c.pid }, 'caddy ignored SIGTERM; it was killed');
    child = null;
    const pf = await readPidFile(p.pid);
    if (pf && pf.owner === process.pid) await rm(p.pid, { force: true });
  }
}
