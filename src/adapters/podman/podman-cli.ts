/**
 * A thin, typed client for the `podman` binary. Every call is an argv array (never a shell
 * string); outputs are parsed defensively because their JSON shapes drift between Podman
 * releases (checked against 4.3). Failures become `ExternalToolError('podman', …)` with one short
 * line for users; the full stderr goes to the log. Nothing secret is ever put on a command line:
 * registry passwords go through a temporary auth file, app config through `--env-file`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { ExternalToolError, NotFoundError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import type { RegistryAuth } from '../../core/ports/runtime.ts';

export interface PodmanCliOptions {
  /** Path or name of the podman binary (default `podman`). */
  bin?: string;
  /** Variables added to the inherited environment (e.g. `CONTAINERS_CONF`). */
  env?: Record<string, string | undefined>;
  log?: Logger;
  /** Where temporary auth files are created (default the OS temp dir). */
  tmpDir?: string;
  /** Timeout of one call (default 60 s); pulls use `pullTimeoutMs` (default 15 min). */
  timeoutMs?: number;
  pullTimeoutMs?: number;
}

/** Options of `podman run`, always detached. */
export interface PodmanRunOptions {
  name: string;
  image: string;
  labels?: Record<string, string>;
  /** Published ports; the host IP is part of each mapping so nothing listens publicly by accident. */
  publish?: Array<{ hostIp: string; hostPort: number; containerPort: number }>;
  /** Absolute path of an env file (mode 0600): the way app config reaches the container. */
  envFile?: string | null;
  /** Non-secret variables only (they are visible in `ps`), e.g. `PORT`. */
  publicEnv?: Record<string, string>;
  memory?: string | null;
  cpus?: number | null;
  restart?: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  replace?: boolean;
  /** `--log-opt max-size=…` so container logs cannot fill the disk (e.g. `10mb`). */
  logMaxSize?: string | null;
  /** argv replacing the image CMD, or null for the default. */
  command?: string[] | null;
  /**
   * Join this existing pod: its infra container holds the network namespace and the published
   * ports (`publish` must then be empty), so starting the container sets up no network.
   */
  pod?: string | null;
}

/** Options of `podman pod create`: a pod that only shares its network namespace. */
export interface PodmanPodOptions {
  name: string;
  /** Name of the pod's infra container (podman's default is `<pod id>-infra`). */
  infraName: string;
  labels?: Record<string, string>;
  publish?: Array<{ hostIp: string; hostPort: number; containerPort: number }>;
}

/** One row of `podman pod ps --format json`. */
export interface PodmanPod {
  id: string;
  name: string;
}

export interface PodmanPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

/** One row of `podman ps --format json`. */
export interface PodmanContainer {
  id: string;
  name: string;
  image: string | null;
  imageId: string | null;
  labels: Record<string, string>;
  /** The infra container of a pod (it carries the pod's labels and ports, and runs no app). */
  isInfra: boolean;
  /** Podman's state word: created, running, paused, stopping, exited, … */
  state: string;
  exitCode: number | null;
  ports: PodmanPort[];
  createdAt: Date | null;
  startedAt: Date | null;
  exitedAt: Date | null;
}

/** The fields of `podman container inspect` this project reads. */
export interface PodmanContainerInspect {
  id: string;
  name: string;
  status: string;
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
  startedAt: Date | null;
  finishedAt: Date | null;
  restartCount: number;
}

/** One row of `podman images --format json`. */
export interface PodmanImage {
  id: string;
  names: string[];
  created: Date | null;
  sizeBytes: number;
  /** Containers using it, as podman counts them. */
  containers: number;
  labels: Record<string, string>;
}

export interface PodmanStats {
  name: string;
  cpuPercent: number | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
}

/** One line of `podman logs --timestamps`. `sortKey` orders lines across containers. */
export interface PodmanLogLine {
  time: string | null;
  sortKey: string;
  message: string;
}

interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_PULL_TIMEOUT_MS = 15 * 60_000;

export class PodmanCli {
  readonly bin: string;
  private readonly env: Record<string, string | undefined>;
  private readonly log: Logger;
  private readonly tmpDir: string;
  private readonly timeoutMs: number;
  private readonly pullTimeoutMs: number;

  constructor(opts: PodmanCliOptions = {}) {
    this.bin = opts.bin ?? 'podman';
    this.env = opts.env ?? {};
    this.log = (opts.log ?? silentLogger).child({ component: 'podman' });
    this.tmpDir = opts.tmpDir ?? tmpdir();
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.pullTimeoutMs = opts.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
  }

  /** Runs podman and returns what it printed; never throws for a non-zero exit. */
  async exec(args: string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const r = await execa(this.bin, args, {
      env: this.env,
      extendEnv: true,
      reject: false,
      stdin: 'ignore',
      timeout: opts.timeoutMs ?? this.timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.failed && r.exitCode === undefined) {
      // Not started, killed by the timeout or a signal: there is no podman message to show.
      const why = r.timedOut ? 'timed out' : r.code === 'ENOENT' ? `${this.bin} not found` : (r.code ?? 'failed');
      this.log.warn({ args, why, stderr: tail(r.stderr) }, 'podman did not complete');
      throw new ExternalToolError('podman', `podman ${args[0] ?? ''} ${why}`.trim());
    }
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? 1 };
  }

  /** JSON rows of a listing that match `schema`; one podman prints differently is logged and skipped. */
  private rows<T>(stdout: string, what: string, schema: z.ZodType<T>): T[] {
    return parseJsonArray(stdout, what).flatMap((row) => {
      const p = schema.safeParse(row);
      if (p.success) return [p.data];
      this.log.warn({ issues: p.error.issues.length }, `skipping an unreadable row of podman ${what}`);
      return [];
    });
  }

  /** Like `exec`, but a non-zero exit becomes an ExternalToolError starting with `what`. */
  private async ok(what: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const r = await this.exec(args, opts);
    if (r.exitCode !== 0) throw this.failure(what, args, r);
    return r;
  }

  private failure(what: string, args: string[], r: ExecResult): ExternalToolError {
    this.log.warn({ args, exitCode: r.exitCode, stderr: tail(r.stderr) }, `${what} failed`);
    return new ExternalToolError('podman', `${what}: ${summarizePodmanError(r.stderr)}`);
  }

  /**
   * Pulls an image. Registry credentials go into a temporary `--authfile` (mode 0600, removed
   * afterwards), never onto the command line. TLS verification is off only for loopback
   * registries unless `tlsVerify` says otherwise.
   */
  async pull(image: string, opts: { auth?: RegistryAuth | null; tlsVerify?: boolean } = {}): Promise<void> {
    const tlsVerify = opts.tlsVerify ?? !isLoopbackRegistry(image);
    const base = ['pull', '--quiet', `--tls-verify=${String(tlsVerify)}`];
    const run = async (extra: string[]): Promise<void> => {
      await this.ok(`could not pull ${image}`, [...base, ...extra, image], { timeoutMs: this.pullTimeoutMs });
    };
    if (opts.auth) {
      await withAuthFile(registryHost(image), opts.auth, this.tmpDir, (file) => run(['--authfile', file]));
    } else {
      await run([]);
    }
  }

  async imageExists(image: string): Promise<boolean> {
    const r = await this.exec(['image', 'exists', image]);
    if (r.exitCode === 0) return true;
    if (r.exitCode === 1) return false;
    throw this.failure(`could not check image ${image}`, ['image', 'exists', image], r);
  }

  /** The image a reference resolves to locally, or null when it is not present. */
  async inspectImage(ref: string): Promise<{ id: string; names: string[] } | null> {
    const args = ['image', 'inspect', '--format', 'json', ref];
    const r = await this.exec(args);
    if (r.exitCode !== 0) {
      if (/image not known|no such (image|object)/i.test(r.stderr)) return null;
      throw this.failure(`could not inspect image ${ref}`, args, r);
    }
    const first = parseJsonArray(r.stdout, 'image inspect')[0];
    const parsed = ImageInspectJson.safeParse(first);
    if (!parsed.success) throw new ExternalToolError('podman', `unexpected output from podman image inspect ${ref}`);
    return { id: parsed.data.Id, names: parsed.data.RepoTags ?? [] };
  }

  async images(): Promise<PodmanImage[]> {
    const r = await this.ok('could not list images', ['images', '--format', 'json']);
    const rows = this.rows(r.stdout, 'images', ImageJson).map(
      (d): PodmanImage => ({
        id: d.Id,
        names: d.Names ?? d.RepoTags ?? [],
        created: unixOrIso(d.Created ?? d.CreatedAt),
        sizeBytes: d.Size ?? 0,
        containers: d.Containers ?? 0,
        labels: d.Labels ?? {},
      }),
    );
    // podman 4.3 prints one row per tag, each carrying all of the image's names: one per id here.
    const byId = new Map<string, PodmanImage>();
    for (const img of rows) {
      const seen = byId.get(img.id);
      if (seen) seen.names = [...new Set([...seen.names, ...img.names])];
      else byId.set(img.id, { ...img, names: [...new Set(img.names)] });
    }
    return [...byId.values()];
  }

  /** Removes images by name or id, without `--force` (so an image in use is never removed). */
  async rmi(refs: string[]): Promise<void> {
    if (refs.length === 0) return;
    await this.ok(`could not remove image ${refs.join(', ')}`, ['rmi', ...refs]);
  }

  /** `podman run --detach …`; returns the container id. */
  async run(o: PodmanRunOptions): Promise<string> {
    const args = ['run', '--detach', '--name', o.name];
    if (o.replace) args.push('--replace');
    for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`);
    for (const p of o.publish ?? []) args.push('--publish', `${p.hostIp}:${p.hostPort}:${p.containerPort}`);
    if (o.envFile) args.push('--env-file', o.envFile);
    for (const [k, v] of Object.entries(o.publicEnv ?? {})) args.push('--env', `${k}=${v}`);
    if (o.memory) args.push('--memory', o.memory);
    if (o.cpus != null) args.push('--cpus', String(o.cpus));
    if (o.restart) args.push(`--restart=${o.restart}`);
    if (o.logMaxSize) args.push('--log-opt', `max-size=${o.logMaxSize}`);
    if (o.pod) args.push('--pod', o.pod);
    // Everything after the image is the container's argv; podman stops parsing flags there.
    args.push(o.image, ...(o.command ?? []));
    const r = await this.ok(`could not start ${o.name}`, args);
    return r.stdout.trim().split('\n').pop() ?? '';
  }

  /** `podman pod create --share net`; returns the pod id. */
  async podCreate(o: PodmanPodOptions): Promise<string> {
    const args = ['pod', 'create', '--name', o.name, '--infra-name', o.infraName, '--share', 'net'];
    for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`);
    for (const p of o.publish ?? []) args.push('--publish', `${p.hostIp}:${p.hostPort}:${p.containerPort}`);
    const r = await this.ok(`could not create pod ${o.name}`, args);
    return r.stdout.trim().split('\n').pop() ?? '';
  }

  /** Starts a pod's infra container (sets up its network); a running pod is left as it is. */
  async podStart(name: string): Promise<void> {
    await this.ok(`could not start pod ${name}`, ['pod', 'start', name]);
  }

  /** `podman pod ps --format json`, filtered by labels (`key` or `key=value`). */
  async pods(filter: { labels?: string[] } = {}): Promise<PodmanPod[]> {
    const args = ['pod', 'ps', '--format', 'json'];
    for (const l of filter.labels ?? []) args.push('--filter', `label=${l}`);
    const r = await this.ok('could not list pods', args);
    return this.rows(r.stdout, 'pod ps', PodJson).map((d) => ({ id: d.Id, name: d.Name }));
  }

  /** Removes pods with their containers (forcing); missing ones are not an error. */
  async podRm(names: string[]): Promise<void> {
    if (names.length === 0) return;
    await this.ok(`could not remove pod ${names.join(', ')}`, ['pod', 'rm', '--ignore', '--force', '--time', '0', ...names]);
  }

  /** Stops a container; a missing one is not an error. */
  async stop(name: string, timeoutSec = 10): Promise<void> {
    await this.ok(`could not stop ${name}`, ['stop', '--ignore', '--time', String(timeoutSec), name], {
      timeoutMs: this.timeoutMs + timeoutSec * 1000,
    });
  }

  /** Removes a container (forcing, in case it is still running); a missing one is not an error. */
  async rm(name: string): Promise<void> {
    await this.ok(`could not remove ${name}`, ['rm', '--ignore', '--force', name]);
  }

  async restart(name: string, timeoutSec = 10): Promise<void> {
    const args = ['restart', '--time', String(timeoutSec), name];
    const r = await this.exec(args, { timeoutMs: this.timeoutMs + timeoutSec * 1000 });
    if (r.exitCode === 0) return;
    if (/no such container|no container with name or id/i.test(r.stderr)) throw new NotFoundError(`no container ${name}`);
    throw this.failure(`could not restart ${name}`, args, r);
  }

  /** `podman ps --all --format json`, filtered by labels (`key` or `key=value`) and names. */
  async ps(filter: { labels?: string[]; names?: string[] } = {}): Promise<PodmanContainer[]> {
    const args = ['ps', '--all', '--format', 'json'];
    for (const l of filter.labels ?? []) args.push('--filter', `label=${l}`);
    // Names are regexes to podman: anchor them so `x-1` does not match `x-10`.
    for (const n of filter.names ?? []) args.push('--filter', `name=^${escapeRegex(n)}$`);
    const r = await this.ok('could not list containers', args);
    return this.rows(r.stdout, 'ps', ContainerJson).map(
      (d): PodmanContainer => ({
        id: d.Id,
        name: d.Names?.[0] ?? d.Id.slice(0, 12),
        image: d.Image ?? null,
        imageId: d.ImageID ?? null,
        labels: d.Labels ?? {},
        isInfra: d.IsInfra === true,
        state: (d.State ?? 'unknown').toLowerCase(),
        exitCode: d.ExitCode ?? null,
        ports: (d.Ports ?? []).map((port) => ({
          hostIp: port.host_ip ?? '',
          hostPort: port.host_port,
          containerPort: port.container_port,
        })),
        createdAt: unixOrIso(d.Created),
        startedAt: unixOrIso(d.StartedAt),
        exitedAt: d.Exited === false ? null : unixOrIso(d.ExitedAt),
      }),
    );
  }

  /** Inspects containers; names that vanished meanwhile are left out rather than failing all. */
  async inspectContainers(names: string[]): Promise<PodmanContainerInspect[]> {
    if (names.length === 0) return [];
    const args = ['container', 'inspect', '--format', 'json', ...names];
    const r = await this.exec(args);
    let rows: unknown[];
    try {
      rows = parseJsonArray(r.stdout, 'container inspect');
    } catch (e) {
      if (r.exitCode !== 0) throw this.failure('could not inspect containers', args, r);
      throw e;
    }
    return rows.flatMap((row) => {
      const p = ContainerInspectJson.safeParse(row);
      if (!p.success) return [];
      const d = p.data;
      return [
        {
          id: d.Id,
          name: d.Name,
          status: (d.State.Status ?? 'unknown').toLowerCase(),
          running: d.State.Running ?? false,
          exitCode: d.State.ExitCode ?? null,
          oomKilled: d.State.OOMKilled ?? false,
          startedAt: unixOrIso(d.State.StartedAt),
          finishedAt: unixOrIso(d.State.FinishedAt),
          restartCount: d.RestartCount ?? 0,
        },
      ];
    });
  }

  /** One snapshot of resource use for running containers (`stats --no-stream --format json`). */
  async stats(names: string[]): Promise<PodmanStats[]> {
    if (names.length === 0) return [];
    const args = ['stats', '--no-stream', '--format', 'json', ...names];
    const r = await this.ok('could not read container stats', args);
    return parseJsonArray(r.stdout, 'stats').flatMap((row) => {
      const p = StatsJson.safeParse(row);
      if (!p.success) return [];
      const d = p.data;
      const [usage, limit] = String(d.mem_usage ?? '').split('/');
      return [
        {
          name: d.name ?? d.id ?? '',
          cpuPercent: parsePercent(d.cpu_percent ?? d.cpu ?? null),
          memoryBytes: parseHumanBytes(usage),
          memoryLimitBytes: parseHumanBytes(limit),
        },
      ];
    });
  }

  /** The newest `tail` lines a container wrote (stdout and stderr), oldest first. */
  async logs(name: string, tailLines: number): Promise<PodmanLogLine[]> {
    const args = ['logs', '--tail', String(tailLines), '--timestamps', name];
    const r = await this.exec(args);
    if (r.exitCode !== 0) {
      if (/no such container|no container with name or id/i.test(r.stderr)) throw new NotFoundError(`no container ${name}`);
      throw this.failure(`could not read logs of ${name}`, args, r);
    }
    // podman replays the container's stderr on its own stderr; timestamps restore the order.
    const lines = [...splitLines(r.stdout), ...splitLines(r.stderr)].map(parseLogLine);
    return lines.sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  }
}

// ---------------------------------------------------------------------------------------------
// Registry references and auth

/** The registry part of an image reference (`docker.io` when the reference has none). */
export function registryHost(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = ref.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
}

/** True for `127.0.0.1[:port]/…`, `localhost[:port]/…` and `[::1][:port]/…`: plain HTTP is fine there. */
export function isLoopbackRegistry(ref: string): boolean {
  const host = registryHost(ref);
  return /^(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/.test(host);
}

/**
 * Writes an auth.json for one registry in a fresh private directory, runs `fn` with its path
 * and removes it whatever happens, so the password never reaches argv or a lasting file.
 */
export async function withAuthFile<T>(
  registry: string,
  auth: RegistryAuth,
  dir: string,
  fn: (file: string) => Promise<T>,
): Promise<T> {
  const tmp = await mkdtemp(join(dir, 'pvdify-auth-'));
  try {
    const file = join(tmp, 'auth.json');
    const token = Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64');
    await writeFile(file, JSON.stringify({ auths: { [registry]: { auth: token } } }), { mode: 0o600, flag: 'wx' });
    return await fn(file);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Output parsing

/**
 * Boils podman's stderr down to one line a user can act on: the last `Error:` line without the
 * chain of wrapping contexts that name URLs and paths, e.g. `manifest unknown` or
 * `unauthorized: authentication required`.
 */
export function summarizePodmanError(stderr: string): string {
  const lines = splitLines(stderr)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const errorLine = [...lines].reverse().find((l) => l.startsWith('Error:')) ?? lines.at(-1) ?? 'failed';
  const text = errorLine.replace(/^Error:\s*/, '');
  const parts = text.split(': ').filter((p, i, all) => p.length > 0 && p !== all[i + 1]);
  // Keep the innermost parts that do not name a URL, path or quoted value (max two).
  const kept: string[] = [];
  for (let i = parts.length - 1; i >= 0 && kept.length < 2; i--) {
    const p = parts[i] ?? '';
    if (kept.length > 0 && /[/"]|\s\S+:\d+/.test(p)) break;
    kept.unshift(p);
  }
  const short = kept.join(': ').trim() || text;
  return short.length > 300 ? `${short.slice(0, 297)}...` : short;
}

/** Parses `450.6kB`, `67.11MB`, `1.5GiB`, `0B`; null when it is not a size. */
export function parseHumanBytes(text: string | undefined | null): number | null {
  if (text == null) return null;
  const m = /^\s*([\d.]+)\s*([kKMGTP]?i?)B?\s*$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return null;
  const unit = (m[2] ?? '').toUpperCase();
  const binary = unit.endsWith('I');
  const power = ['', 'K', 'M', 'G', 'T', 'P'].indexOf(unit.replace('I', ''));
  if (power < 0) return null;
  return Math.round(n * (binary ? 1024 : 1000) ** power);
}

function parsePercent(v: string | number | null): number | null {
  if (v == null) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  const n = Number.parseFloat(v.replace('%', ''));
  return Number.isFinite(n) ? n : null;
}

const LOG_TS_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}) ?(.*)$/;

/**
 * Splits a `podman logs --timestamps` line into time and message. The time comes back as an ISO
 * string in UTC; `sortKey` keeps nanoseconds so lines from different containers merge in order.
 */
export function parseLogLine(line: string): PodmanLogLine {
  const m = LOG_TS_RE.exec(line);
  if (!m) return { time: null, sortKey: '', message: line };
  const ms = Date.parse(`${m[1] ?? ''}${m[3] ?? 'Z'}`);
  if (!Number.isFinite(ms)) return { time: null, sortKey: '', message: line };
  const frac = (m[2] ?? '').padEnd(9, '0');
  const whole = new Date(ms);
  const time = new Date(ms + Number(frac.slice(0, 3))).toISOString();
  const sortKey = `${whole.toISOString().slice(0, 19)}.${frac}`;
  return { time, sortKey, message: m[4] ?? '' };
}

function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  return text.replace(/\r?\n$/, '').split(/\r?\n/);
}

function parseJsonArray(text: string, what: string): unknown[] {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'null') return [];
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    throw new ExternalToolError('podman', `unexpected output from podman ${what} (not JSON)`);
  }
  if (Array.isArray(value)) return value;
  if (value && typeof value === 'object') return [value];
  throw new ExternalToolError('podman', `unexpected output from podman ${what}`);
}

/** Podman prints unix seconds in some places and RFC 3339 in others; zero dates mean "never". */
function unixOrIso(v: number | string | null | undefined): Date | null {
  if (v == null) return null;
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  const t = d.getTime();
  return Number.isFinite(t) && t > 0 ? d : null;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function tail(text: string | undefined, max = 2000): string {
  if (!text) return '';
  return text.length > max ? text.slice(-max) : text;
}

const opt = <T extends z.ZodType>(t: T) => t.nullish().catch(undefined);
const StringMap = z.record(z.string(), z.string());

const ImageJson = z.looseObject({
  Id: z.string().min(1),
  Names: opt(z.array(z.string())),
  RepoTags: opt(z.array(z.string())),
  Created: opt(z.union([z.number(), z.string()])),
  CreatedAt: opt(z.string()),
  Size: opt(z.number()),
  Containers: opt(z.number()),
  Labels: opt(StringMap),
});

const ImageInspectJson = z.looseObject({
  Id: z.string().min(1),
  RepoTags: opt(z.array(z.string())),
});

const PodJson = z.looseObject({
  Id: z.string().min(1),
  Name: z.string().min(1),
});

const ContainerJson = z.looseObject({
  Id: z.string().min(1),
  Names: opt(z.array(z.string())),
  Image: opt(z.string()),
  ImageID: opt(z.string()),
  Labels: opt(StringMap),
  IsInfra: opt(z.boolean()),
  State: opt(z.string()),
  ExitCode: opt(z.number()),
  Exited: opt(z.boolean()),
  Created: opt(z.union([z.number(), z.string()])),
  StartedAt: opt(z.union([z.number(), z.string()])),
  ExitedAt: opt(z.union([z.number(), z.string()])),
  Ports: opt(
    z.array(
      z.looseObject({
        host_ip: opt(z.string()),
        host_port: z.number(),
        container_port: z.number(),
      }),
    ),
  ),
});

const ContainerInspectJson = z.looseObject({
  Id: z.string().min(1),
  Name: z.string(),
  RestartCount: opt(z.number()),
  State: z.looseObject({
    Status: opt(z.string()),
    Running: opt(z.boolean()),
    ExitCode: opt(z.number()),
    OOMKilled: opt(z.boolean()),
    StartedAt: opt(z.string()),
    FinishedAt: opt(z.string()),
  }),
});

const StatsJson = z.looseObject({
  id: opt(z.string()),
  name: opt(z.string()),
  cpu_percent: opt(z.union([z.string(), z.number()])),
  cpu: opt(z.union([z.string(), z.number()])),
  mem_usage: opt(z.string()),
});
