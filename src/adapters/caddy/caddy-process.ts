/**
 * Running Caddy itself: `caddy run --config <stateDir>/router/caddy.json`.
 *
 * Two ways, one pidfile (`router/caddy.pid`: the pid, then `detached` or `supervised <pid>`):
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
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { ConflictError, ExternalToolError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import { createCaddyAdminClient } from './admin-client.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { parseAdminAddress, renderCaddyConfig } from './caddy-config.ts';
import { caddyConfigPath } from './caddy-router.ts';

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

export interface RouterStatus {
  running: boolean;
  pid: number | null;
  mode: 'detached' | 'supervised' | null;
  adminReachable: boolean;
  configPath: string;
  pidFile: string;
  logFile: string;
  /** A pidfile named a process that is gone (start and stop clean it up). */
  stalePidFile: boolean;
}

interface PidFile {
  pid: number;
  mode: 'detached' | 'supervised';
  owner: number | null;
}

const paths = (stateDir: string) => ({
  dir: join(stateDir, 'router'),
  config: caddyConfigPath(stateDir),
  pid: join(stateDir, 'router', 'caddy.pid'),
  log: join(stateDir, 'router', 'caddy.log'),
});

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

/**
 * Makes sure `router/caddy.json` exists and names `adminAddress` as its admin endpoint (an empty
 * routing table when missing), so `caddy run` comes up with an admin API we can reach.
 */
export async function ensureRouterConfig(stateDir: string, adminAddress: string): Promise<string> {
  const p = paths(stateDir);
  parseAdminAddress(adminAddress);
  const text = await readFile(p.config, 'utf8').catch(() => null);
  let config: Record<string, unknown> | null = null;
  if (text !== null) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) config = parsed as Record<string, unknown>;
    } catch {
      config = null;
    }
  }
  if (config === null) {
    // Missing or unreadable: start empty; the next apply from the app slots fills it in.
    await writeFileAtomic(p.config, `${JSON.stringify(renderCaddyConfig([], { adminListen: adminAddress }), null, 2)}\n`);
    return p.config;
  }
  const admin = (config.admin ?? {}) as Record<string, unknown>;
  if (admin.listen !== adminAddress) {
    config.admin = { ...admin, listen: adminAddress, config: { persist: false } };
    await writeFileAtomic(p.config, `${JSON.stringify(config, null, 2)}\n`);
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

function spawnCaddy(opts: RouterProcessOptions, detached: boolean) {
  const p = paths(opts.stateDir);
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

async function waitForAdmin(opts: RouterProcessOptions, alive: () => Promise<boolean>): Promise<void> {
  const admin = createCaddyAdminClient(opts.adminAddress, { timeoutMs: 2000 });
  const deadline = performance.now() + (opts.readyTimeoutMs ?? 15_000);
  while (performance.now() < deadline) {
    if (await admin.ping()) return;
    if (!(await alive())) {
      throw new ExternalToolError('caddy', `caddy exited while starting: ${await logTail(paths(opts.stateDir).log)}`, `see ${paths(opts.stateDir).log}`);
    }
    await delay(100);
  }
  throw new ExternalToolError('caddy', `caddy's admin API did not answer within ${opts.readyTimeoutMs ?? 15_000} ms`, `see ${paths(opts.stateDir).log}`);
}

async function liveRouter(opts: RouterProcessOptions): Promise<{ pidFile: PidFile | null; live: boolean }> {
  const p = paths(opts.stateDir);
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

/** `pvdifyd router status`. */
export async function routerStatus(opts: RouterProcessOptions): Promise<RouterStatus> {
  const p = paths(opts.stateDir);
  const { pidFile, live } = await liveRouter(opts);
  const adminReachable = await createCaddyAdminClient(opts.adminAddress, { timeoutMs: 2000 }).ping();
  return {
    running: live,
    pid: live && pidFile ? pidFile.pid : null,
    mode: live && pidFile ? pidFile.mode : null,
    adminReachable,
    configPath: p.config,
    pidFile: p.pid,
    logFile: p.log,
    stalePidFile: pidFile !== null && !live,
  };
}

/**
 * `pvdifyd router start`: starts Caddy detached and returns once its admin API answers. A router
 * that is already running is left alone (`alreadyRunning`).
 */
export async function startRouterDetached(opts: RouterProcessOptions): Promise<{ pid: number; alreadyRunning: boolean }> {
  const p = paths(opts.stateDir);
  const log = (opts.log ?? silentLogger).child({ component: 'caddy-process' });
  const { pidFile, live } = await liveRouter(opts);
  if (live && pidFile) return { pid: pidFile.pid, alreadyRunning: true };
  await mkdir(p.dir, { recursive: true });
  await ensureRouterConfig(opts.stateDir, opts.adminAddress);
  await removeStaleSocket(opts.adminAddress);
  const child = spawnCaddy(opts, true);
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
    await waitForAdmin(opts, async () => !exited && (await isRouterProcess(pid, p.config)));
  } catch (e) {
    if (!exited) await killAndWait(pid, p.config, opts.stopTimeoutMs ?? 10_000).catch(() => {});
    await rm(p.pid, { force: true });
    throw e;
  }
  log.info({ pid }, 'router started (detached)');
  return { pid, alreadyRunning: false };
}

/**
 * `pvdifyd router stop`: SIGTERM to the Caddy named by the pidfile, SIGKILL after the timeout.
 * A router supervised by a running `pvdifyd serve` is refused: that supervisor would restart it.
 */
export async function stopRouter(opts: RouterProcessOptions): Promise<{ stopped: boolean; pid: number | null; forced: boolean }> {
  const p = paths(opts.stateDir);
  const log = (opts.log ?? silentLogger).child({ component: 'caddy-process' });
  const { pidFile, live } = await liveRouter(opts);
  if (pidFile === null || !live) {
    await rm(p.pid, { force: true });
    return { stopped: false, pid: null, forced: false };
  }
  if (pidFile.mode === 'supervised' && pidFile.owner !== null && pidFile.owner !== process.pid && processExists(pidFile.owner)) {
    throw new ConflictError(`the router is supervised by pvdifyd serve (pid ${pidFile.owner})`, 'stop the pvdifyd service instead');
  }
  const { forced } = await killAndWait(pidFile.pid, p.config, opts.stopTimeoutMs ?? 10_000);
  await rm(p.pid, { force: true });
  log.info({ pid: pidFile.pid, forced }, 'router stopped');
  return { stopped: true, pid: pidFile.pid, forced };
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

export interface CaddyProcessStatus {
  state: CaddyProcessState;
  pid: number | null;
  /** Unexpected exits since start(). */
  restarts: number;
  lastExit: { code: number | null; signal: string | null; at: string } | null;
}

/** Caddy as a supervised child of this process (`pvdifyd serve`). */
export interface CaddyProcess {
  /** Spawns Caddy and resolves once its admin API answers. */
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
  const p = paths(opts.stateDir);
  const log = (opts.log ?? silentLogger).child({ component: 'caddy-process' });
  let state: CaddyProcessState = 'stopped';
  let child: CaddyChild | null = null;
  let restarts = 0;
  let crashes = 0;
  let lastExit: CaddyProcessStatus['lastExit'] = null;
  let timer: NodeJS.Timeout | null = null;
  let supervising = false;

  async function spawnOnce(): Promise<void> {
    await removeStaleSocket(opts.adminAddress);
    const c = spawnCaddy(opts, false);
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
    await waitForAdmin(opts, async () => !exited);
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
      const { pidFile, live } = await liveRouter(opts);
      if (live && pidFile) {
        throw new ConflictError(`a router is already running (pid ${pidFile.pid}, ${pidFile.mode})`, 'stop it with `pvdifyd router stop` first');
      }
      await mkdir(p.dir, { recursive: true });
      await ensureRouterConfig(opts.stateDir, opts.adminAddress);
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
      log.info({ pid: child?.pid }, 'router started');
    },
    async stop() {
      if (state === 'stopped') return;
      state = 'stopping';
      supervising = false;
      if (timer) clearTimeout(timer);
      timer = null;
      await stopChild();
      state = 'stopped';
      log.info('router stopped');
    },
    status() {
      return { state, pid: child?.pid ?? null, restarts, lastExit };
    },
  };

  async function stopChild(): Promise<void> {
    const c = child;
    if (c) {
      c.kill('SIGTERM');
      const ac = new AbortController();
      const stopped = await Promise.race([
        c.then(() => true),
        delay(opts.stopTimeoutMs ?? 10_000, false, { signal: ac.signal }).catch(() => false),
      ]);
      ac.abort();
      if (!stopped) {
        log.warn({ pid: c.pid }, 'caddy ignored SIGTERM; sending SIGKILL');
        c.kill('SIGKILL');
        await c;
      }
    }
    child = null;
    const pf = await readPidFile(p.pid);
    if (pf && pf.owner === process.pid) await rm(p.pid, { force: true });
  }
}
