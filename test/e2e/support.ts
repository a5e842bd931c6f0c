/**
 * Harness for the live end-to-end tests and the live benchmarks: a temp state dir driven through
 * the real `pvdify` CLI (a child process per command, as an operator types it) with the podman
 * supervisor and the Caddy router, test images from busybox, a local registry, and a bounded
 * keep-alive load loop against the router port.
 *
 * Everything a harness starts is undone by `dispose()`: the apps' containers (found by their
 * `pvdify.app` label), the detached Caddy the CLI started, the temp dir. Every step of the
 * teardown runs even when an earlier one fails.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stopRouter } from '../../src/adapters/caddy/caddy-process.ts';
import { instancePort } from '../../src/core/deploy/instance-ports.ts';
import { installCloudflaredStub, type CloudflaredStub } from '../support/cloudflared-stub/install.ts';
import { BUSYBOX, buildTestImage } from '../support/images/build-test-image.ts';
import { appContainers, removeAppContainers } from '../support/podman/cleanup.ts';
import { podmanTestEnv } from '../support/podman/env.ts';
import { PodmanCli } from '../../src/adapters/podman/podman-cli.ts';
import { REGISTRY_BIN, pushImage, type TestRegistry } from '../support/registry/registry.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PVDIFY_BIN = join(REPO_ROOT, 'bin', 'pvdify.js');
export const PVDIFYD_BIN = join(REPO_ROOT, 'bin', 'pvdifyd.js');
export const CADDY_BIN = '/usr/bin/caddy';
export const PODMAN_BIN = '/usr/bin/podman';

/** Why the live tests cannot run on this machine, or false when they can. */
export function liveToolsMissing(opts: { registry?: boolean } = {}): string | false {
  const needed = [PODMAN_BIN, CADDY_BIN, BUSYBOX, ...(opts.registry ? [REGISTRY_BIN] : [])];
  const missing = needed.filter((p) => !existsSync(p));
  return missing.length > 0 ? `live e2e needs ${missing.join(', ')}` : false;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time of the child process. */
  ms: number;
}

export interface HarnessOptions {
  /** `PVDIFY_HEALTH_DEADLINE_SECONDS` (default 10: the unhealthy case waits this long). */
  healthDeadlineSeconds?: number;
  /** `PVDIFY_DRAIN_MS` (default 1000). */
  drainMs?: number;
  /** Prefix of the temp dir (kept short: Caddy's admin socket lives inside it). */
  prefix?: string;
}

export interface Harness {
  root: string;
  stateDir: string;
  ageKeyFile: string;
  snapshotDir: string;
  logFile: string;
  /** `unix//<root>/state/router/admin.sock`. */
  adminAddress: string;
  /** The environment every CLI child gets. */
  env: Record<string, string>;
  /** The recording cloudflared stub the CLI runs (`PVDIFY_CLOUDFLARED`). */
  cloudflared: CloudflaredStub;
  /** A fresh app name (`<prefix>-<hex>`), remembered for teardown. */
  newAppName(prefix?: string): string;
  /** Runs `pvdify ARGS…` as a child process; never throws for a non-zero exit. */
  pvdify(...args: string[]): Promise<CliResult>;
  /** Like `pvdify`, but throws with the command's stderr unless it exits 0. */
  pvdifyOk(...args: string[]): Promise<CliResult>;
  /** `pvdify ARGS… --json`, parsed; throws unless it exits 0. */
  json<T = unknown>(...args: string[]): Promise<T>;
  /** Router port of an app, from `apps:info NAME --json`. */
  bindPort(app: string): Promise<number>;
  /** Removes containers, stops the router, deletes the temp dir; each step runs regardless. */
  dispose(): Promise<void>;
}

const CLI_TIMEOUT_MS = 240_000;

/** The parent's environment without any `PVDIFY_*` setting that could point at real state. */
function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(podmanTestEnv())) {
    if (v !== undefined && !k.startsWith('PVDIFY_')) out[k] = v;
  }
  return out;
}

export async function runNode(script: string, args: string[], env: Record<string, string>, timeoutMs = CLI_TIMEOUT_MS): Promise<CliResult> {
  const started = performance.now();
  const r = await execa(process.execPath, [script, ...args], {
    cwd: REPO_ROOT,
    env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: timeoutMs,
  });
  const ms = performance.now() - started;
  const stderr = r.timedOut ? `${r.stderr}\n[harness] killed after ${timeoutMs} ms` : r.stderr;
  return { code: r.exitCode ?? 128, stdout: r.stdout, stderr, ms };
}

export async function createHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), opts.prefix ?? 'pvd-e2e-'));
  const stateDir = join(root, 'state');
  const ageKeyFile = join(root, 'age.key');
  const snapshotDir = join(root, 'snapshots');
  const logFile = join(root, 'pvdify.log');
  const adminAddress = `unix/${join(stateDir, 'router', 'admin.sock')}`;
  const apps = new Set<string>();
  let cloudflared: CloudflaredStub;
  try {
    await mkdir(join(root, 'bin'));
    cloudflared = await installCloudflaredStub(join(root, 'bin'));
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw e;
  }
  const env: Record<string, string> = {
    ...cloudflared.env,
    ...baseEnv(),
    PVDIFY_STATE_DIR: stateDir,
    PVDIFY_AGE_KEY_FILE: ageKeyFile,
    PVDIFY_SUPERVISOR: 'podman',
    PVDIFY_ROUTER: 'caddy',
    PVDIFY_PODMAN: PODMAN_BIN,
    PVDIFY_CADDY: CADDY_BIN,
    PVDIFY_CADDY_ADMIN: adminAddress,
    PVDIFY_SNAPSHOT_DIR: snapshotDir,
    PVDIFY_SNAPSHOT_KEEP: '5',
    PVDIFY_CLOUDFLARED: cloudflared.path,
    PVDIFY_TUNNEL_CREDENTIALS: join(root, 'tunnel-credentials.json'),
    PVDIFY_HEALTH_DEADLINE_SECONDS: String(opts.healthDeadlineSeconds ?? 10),
    PVDIFY_DRAIN_MS: String(opts.drainMs ?? 1000),
    PVDIFY_LOG: logFile,
    PVDIFY_LOG_LEVEL: 'info',
  };

  const pvdify = (...args: string[]) => runNode(PVDIFY_BIN, args, env);
  const pvdifyOk = async (...args: string[]): Promise<CliResult> => {
    const r = await pvdify(...args);
    if (r.code !== 0) throw new Error(`pvdify ${args.join(' ')} exited ${r.code}\n${r.stderr}\n${r.stdout}`.trim());
    return r;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse((await pvdifyOk(...args, '--json')).stdout) as T;

  async function dispose(): Promise<void> {
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        problems.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    await step('remove containers', () => removeAppContainers([...apps]));
    await step('stop router', () => stopRouterHard(stateDir, adminAddress, env));
    await step('podman service', () => killLeftoverPodmanService(stateDir));
    await step('check containers', async () => {
      const left = await appContainers([...apps]);
      if (left.length > 0) throw new Error(`still present: ${left.join(', ')}`);
    });
    await step('remove temp dir', () => rm(root, { recursive: true, force: true }));
    if (problems.length > 0) throw new Error(`e2e teardown: ${problems.join('; ')}`);
  }

  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const keygen = await runNode(PVDIFYD_BIN, ['keygen'], env, 60_000);
    if (keygen.code !== 0) throw new Error(`pvdifyd keygen exited ${keygen.code}: ${keygen.stderr}`);
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw e;
  }

  return {
    root,
    stateDir,
    ageKeyFile,
    snapshotDir,
    logFile,
    adminAddress,
    env,
    cloudflared,
    newAppName(prefix = 'e2e') {
      const name = `${prefix}-${randomBytes(4).toString('hex')}`;
      apps.add(name);
      return name;
    },
    pvdify,
    pvdifyOk,
    json,
    async bindPort(app) {
      const info = await json<{ app: { bind_port: number } }>('apps:info', app);
      return info.app.bind_port;
    },
    dispose,
  };
}

/**
 * The CLI starts the router's two Caddy processes detached (`router/caddy.pid`, `front.pid`).
 * Stop them as an operator would (`pvdifyd router stop`); if that fails, with the same function
 * in-process; and if a pid still runs our config after that, SIGKILL it.
 */
async function stopRouterHard(stateDir: string, adminAddress: string, env: Record<string, string>): Promise<void> {
  const pids: number[] = [];
  for (const f of ['caddy.pid', 'front.pid']) {
    const pid = Number((await readFile(join(stateDir, 'router', f), 'utf8').catch(() => '')).split('\n')[0]);
    if (Number.isInteger(pid) && pid > 1) pids.push(pid);
  }
  const cli = await runNode(PVDIFYD_BIN, ['router', 'stop'], env, 30_000);
  let problem: unknown = null;
  if (cli.code !== 0) {
    try {
      await stopRouter({ stateDir, caddyPath: CADDY_BIN, adminAddress, stopTimeoutMs: 5000 });
    } catch (e) {
      problem = e;
    }
  }
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(join(stateDir, 'router'))) {
      process.kill(pid, 'SIGKILL');
      problem ??= new Error(`caddy (pid ${pid}) survived \`pvdifyd router stop\` (${cli.code}: ${cli.stderr.trim()}); killed`);
    }
  }
  if (problem !== null) throw problem;
}

/**
 * pvdifyd stops its `podman system service` on the way out; one still serving this state's socket
 * means a daemon did not stop cleanly (killed): kill it and report it.
 */
async function killLeftoverPodmanService(stateDir: string): Promise<void> {
  const marker = `unix://${join(stateDir, 'podman.sock')}`;
  const left: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(marker)) left.push(Number(entry));
  }
  for (const pid of left) process.kill(pid, 'SIGKILL');
  if (left.length > 0) throw new Error(`podman system service (pid ${left.join(', ')}) outlived pvdifyd; killed`);
}

export interface Daemon {
  /** `<root>/pvdifyd.log`. */
  logFile: string;
  /** SIGTERM, then waits for the exit; resolves with the exit code. */
  stop(): Promise<number | undefined>;
}

/** `pvdifyd serve` on the harness's state, resolved once its control socket is up. */
export async function startDaemon(h: Harness, timeoutMs = 30_000): Promise<Daemon> {
  const logFile = join(h.root, 'pvdifyd.log');
  const daemon = execa(process.execPath, [PVDIFYD_BIN, 'serve'], { env: { ...h.env, PVDIFY_LOG: logFile }, extendEnv: false, reject: false, stdin: 'ignore' });
  const socket = join(h.stateDir, 'pvdifyd.sock');
  const deadline = performance.now() + timeoutMs;
  while (!existsSync(socket)) {
    if (daemon.exitCode !== null || performance.now() > deadline) {
      daemon.kill('SIGKILL');
      throw new Error(`pvdifyd serve did not open its control socket: ${(await daemon).stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    logFile,
    async stop() {
      daemon.kill('SIGTERM');
      return (await daemon).exitCode;
    },
  };
}

/** True when nothing listens on 127.0.0.1:port right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * Router ports come from the state (the first app of a fresh state dir gets 3000), not from the
 * host: fail early and clearly when something else on this machine holds one this app needs.
 * The app's own network pods (set up by apps:create) hold its web slots' ports: not a conflict.
 */
export async function assertAppPortsFree(app: string, bindPort: number, webInstances = 3): Promise<void> {
  const ports = [bindPort];
  for (let i = 1; i <= webInstances; i++) ports.push(instancePort(bindPort, 'blue', i), instancePort(bindPort, 'green', i));
  const own = new Set(
    (await new PodmanCli({ env: podmanTestEnv() }).ps({ labels: [`pvdify.app=${app}`] })).filter((c) => c.isInfra).flatMap((c) => c.ports.map((p) => p.hostPort)),
  );
  const taken: number[] = [];
  for (const p of ports) if (!own.has(p) && !(await portIsFree(p))) taken.push(p);
  if (taken.length > 0) {
    throw new Error(`ports ${taken.join(', ')} on 127.0.0.1 are taken by another process; the e2e app needs them (is another e2e run going?)`);
  }
}

/**
 * Live e2e runs share the host's router ports (3000, 10000+): one at a time per machine. A
 * directory lock with the owner's pid; a lock whose owner is gone is taken over.
 */
export async function acquireHostLock(timeoutMs = 600_000): Promise<() => Promise<void>> {
  const dir = join(tmpdir(), 'pvdify-e2e-host.lock');
  const owner = join(dir, 'pid');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await mkdir(dir);
      await writeFile(owner, String(process.pid));
      return async () => {
        await rm(dir, { recursive: true, force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const pid = Number(await readFile(owner, 'utf8').catch(() => ''));
    let alive = true;
    if (Number.isInteger(pid) && pid > 1) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    } else {
      // Owner not written yet (or never will be): give it a moment, then treat it as stale.
      await sleep(500);
      alive = existsSync(owner);
    }
    if (!alive) {
      await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`another live e2e run (pid ${pid}) holds ${dir}`);
    await sleep(250);
  }
}

export interface AppImage {
  /** What `deploy` gets. */
  ref: string;
  /** What `/` answers. */
  body: string;
}

/**
 * Builds the e2e test images (local tags `localhost/pvdify-e2e-app:<name>`, reused when the
 * content did not change) and, with a registry, pushes them as `<registry>/pvdify-e2e/app:<name>`.
 */
export async function prepareImages(
  specs: Array<{ name: string; body: string; healthy?: boolean }>,
  registry?: TestRegistry,
): Promise<Record<string, AppImage>> {
  const out: Record<string, AppImage> = {};
  for (const s of specs) {
    const local = `localhost/pvdify-e2e-app:${s.name}`;
    await buildTestImage({ tag: local, body: s.body, healthy: s.healthy ?? true });
    let ref = local;
    if (registry) {
      ref = `${registry.host}/pvdify-e2e/app:${s.name}`;
      await pushImage(local, ref);
    }
    out[s.name] = { ref, body: s.body };
  }
  return out;
}

/** Removes the local copies of images pulled from a (now gone) test registry. */
export async function removeImages(refs: string[]): Promise<void> {
  if (refs.length === 0) return;
  await execa('podman', ['rmi', '--force', '--ignore', ...refs], { env: podmanTestEnv(), reject: false });
}

// ---------------------------------------------------------------------------------------------
// load

export interface LoadSample {
  /** performance.now() when the request started. */
  at: number;
  ms: number;
  ok: boolean;
  /** Re-sends after a keep-alive reset (see `getLikeProxy`). */
  retries: number;
}

export interface LoadOptions {
  port: number;
  path?: string;
  /** Parallel workers, each on its own keep-alive connection (default 2). */
  concurrency?: number;
  /** Stops after this many requests (default 20,000). */
  maxRequests?: number;
  /** Stops after this long (default 120 s). */
  maxMs?: number;
  /** Pause between one worker's requests (default 0). */
  pauseMs?: number;
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
}

export interface LoadResult {
  total: number;
  failed: number;
  /**
   * Re-sends after a reset on a reused keep-alive connection (see `getLikeProxy`); these
   * requests succeeded on the retry and are not counted as failed.
   */
  retried: number;
  /** The first 20 failures: `HTTP 502: …` or the socket error. */
  failures: string[];
  /** Answer bodies (trimmed) and how often each came back. */
  bodies: Map<string, number>;
  samples: LoadSample[];
  durationMs: number;
}

export interface LoadHandle {
  /** Samples so far (live). */
  readonly samples: LoadSample[];
  /** Ends the loop (in-flight requests finish) and returns what it saw. */
  stop(): Promise<LoadResult>;
  /** Resolves when the loop ended by itself (a bound) or after stop(). */
  done: Promise<LoadResult>;
}

interface Answer {
  status: number;
  body: string;
  /** Requests re-sent because a reused keep-alive connection was closed before any answer. */
  retries: number;
}

function getOnce(port: number, path: string, agent: http.Agent, timeoutMs: number): Promise<Answer & { reusedReset: boolean }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, retries: 0, reusedReset: false }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      // The keep-alive race (RFC 9112 §9.3.1): the server closed an idle connection just as this
      // request went out on it. Nothing was answered, so the request never reached the app.
      if (!answered && req.reusedSocket && e.code === 'ECONNRESET') resolve({ status: 0, body: '', retries: 0, reusedReset: true });
      else reject(e);
    });
  });
}

/**
 * One GET as the client in front of the router (cloudflared, i.e. Go's http.Transport) sends
 * it: a GET that fails on a reused keep-alive connection before any byte of an answer came back
 * is sent again. Caddy closes idle keep-alive connections of the old config at every reload
 * (each deploy's switch), so a tight loop meets that race; a second reset, or any other error,
 * is a failure.
 */
export async function getLikeProxy(port: number, path: string, agent: http.Agent, timeoutMs = 10_000): Promise<Answer> {
  let retries = 0;
  for (;;) {
    const r = await getOnce(port, path, agent, timeoutMs);
    if (!r.reusedReset) return { status: r.status, body: r.body, retries };
    retries += 1;
    if (retries > 3) throw new Error(`connection reset ${retries} times on reused keep-alive connections`);
  }
}

/** A bounded GET loop on 127.0.0.1 (count and time); it stops by itself at either bound. */
export function startLoad(opts: LoadOptions): LoadHandle {
  const path = opts.path ?? '/';
  const concurrency = opts.concurrency ?? 2;
  const maxRequests = opts.maxRequests ?? 20_000;
  const maxMs = opts.maxMs ?? 120_000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const samples: LoadSample[] = [];
  const failures: string[] = [];
  const bodies = new Map<string, number>();
  const started = performance.now();
  let failed = 0;
  let retried = 0;
  let issued = 0;
  let stopped = false;

  const worker = async (): Promise<void> => {
    while (!stopped && issued < maxRequests && performance.now() - started < maxMs) {
      issued += 1;
      const at = performance.now();
      let ok = false;
      let retries = 0;
      try {
        const r = await getLikeProxy(opts.port, path, agent, timeoutMs);
        retries = r.retries;
        retried += r.retries;
        ok = r.status === 200;
        if (!ok && failures.length < 20) failures.push(`HTTP ${r.status}: ${r.body.slice(0, 120).trim()}`);
        if (ok) bodies.set(r.body.trim(), (bodies.get(r.body.trim()) ?? 0) + 1);
      } catch (e) {
        if (failures.length < 20) failures.push((e as Error).message);
      }
      if (!ok) failed += 1;
      samples.push({ at, ms: performance.now() - at, ok, retries });
      if (opts.pauseMs) await sleep(opts.pauseMs);
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then((): LoadResult => {
    agent.destroy();
    return { total: samples.length, failed, retried, failures, bodies, samples, durationMs: performance.now() - started };
  });
  return {
    samples,
    done,
    stop() {
      stopped = true;
      return done;
    },
  };
}

/** Percentile (nearest rank) of a list of numbers; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
