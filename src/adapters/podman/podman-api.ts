/**
 * A client of Podman's libpod REST API (`podman system service`) over its unix socket, for the
 * deploy hot path: one request costs a few milliseconds where each `podman` CLI call pays ~30 ms
 * of start-up. `run` means what `PodmanCli.run` means; the body it sends is what podman 4.3's CLI
 * builds for the same flags (checked by the parity test against `podman container inspect`).
 *
 * App config never leaves this process except in the request body: the env file is read and
 * parsed here exactly as podman's `--env-file` does it, and neither the body nor a value ever
 * reaches a log line or an error message. When the socket cannot be reached at all the methods
 * throw `PodmanApiUnavailable`, so callers can fall back to the CLI.
 */
import { readFile } from 'node:fs/promises';
import { ExternalToolError, InvalidInputError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import { summarizePodmanError, type PodmanRunOptions } from './podman-cli.ts';
import { localRequest, type LocalAnswer as Answer } from '../local-http.ts';

export interface PodmanApiOptions {
  /** The service's unix socket, e.g. the path given to `podman system service unix://…`. */
  socketPath: string;
  log?: Logger;
  /** Timeout of one request (default 60 s). */
  timeoutMs?: number;
}

/** `PodmanCli.run`'s options, including `pod`: an existing pod to join (its infra holds network and ports). */
export type PodmanApiRunOptions = PodmanRunOptions & { pod?: string | null };

/**
 * The service did not answer: the socket is missing or refused, the connection broke, or the
 * request timed out. Falling back to the CLI is safe: with `replace` a container left half-made
 * by the lost request is replaced, without it the CLI says the name is taken.
 */
export class PodmanApiUnavailable extends ExternalToolError {
  constructor(message: string) {
    super('podman', message, 'is `podman system service` running on that socket?');
  }
}

/**
 * A podman operation through the API when there is one and its service answers, through the CLI
 * otherwise (no client, or `PodmanApiUnavailable`); podman refusing the request is not retried.
 */
export async function apiOrCli<T>(api: PodmanApi | null, viaApi: (api: PodmanApi) => Promise<T>, viaCli: () => Promise<T>): Promise<T> {
  if (api) {
    try {
      return await viaApi(api);
    } catch (e) {
      if (!(e instanceof PodmanApiUnavailable)) throw e;
    }
  }
  return viaCli();
}

export const API_PREFIX = '/v4.0.0/libpod';
const DEFAULT_TIMEOUT_MS = 60_000;
const PING_TIMEOUT_MS = 2_000;
/** Answers are small JSON; a longer one is refused. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export class PodmanApi {
  readonly socketPath: string;
  private readonly log: Logger;
  private readonly timeoutMs: number;

  constructor(opts: PodmanApiOptions) {
    this.socketPath = opts.socketPath;
    this.log = (opts.log ?? silentLogger).child({ component: 'podman-api' });
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** True when the service answers `_ping`; never throws. */
  async ping(): Promise<boolean> {
    try {
      return (await this.request('GET', '/_ping', undefined, Math.min(PING_TIMEOUT_MS, this.timeoutMs))).status === 200;
    } catch {
      return false;
    }
  }

  async imageExists(image: string): Promise<boolean> {
    // The route matches the escaped path, so `/` and `:` travel as %2F and %3A (podman 4.3 decodes both).
    const r = await this.request('GET', `/images/${encodeURIComponent(image)}/exists`);
    if (r.status === 204) return true;
    if (r.status === 404) return false;
    throw this.failure(`could not check image ${image}`, r);
  }

  /**
   * Creates and starts a container; returns its id. Unlike `podman run` it never pulls: a
   * missing image fails with "image not known". A container that was created but would not
   * start is removed again (the CLI leaves it behind in state `created`).
   */
  async run(o: PodmanApiRunOptions): Promise<string> {
    const what = `could not start ${o.name}`;
    const body = specGenerator(o, o.envFile ? await readEnvFile(o.envFile, what) : new Map());
    if (o.replace) await this.remove(o.name, what);

    const created = await this.request('POST', '/containers/create', body);
    const id = created.status === 201 ? parseId(created.body) : null;
    if (id === null) throw this.failure(what, created);

    try {
      const started = await this.request('POST', `/containers/${encodeURIComponent(id)}/start`);
      if (started.status !== 204 && started.status !== 304) throw this.failure(what, started);
    } catch (e) {
      await this.remove(id, `could not remove ${o.name} after it failed to start`).catch((err: unknown) => {
        this.log.warn({ name: o.name, err: String(err) }, 'could not remove a container that failed to start');
      });
      throw e;
    }
    return id;
  }

  /** `podman rm --force --ignore`: stops (with the container's stop timeout) and removes. */
  private async remove(nameOrId: string, what: string): Promise<void> {
    const r = await this.request('DELETE', `/containers/${encodeURIComponent(nameOrId)}?force=true&ignore=true`);
    if (r.status !== 200 && r.status !== 204 && r.status !== 404) throw this.failure(what, r);
  }

  /** Podman's error body is `{cause, message, response}`; the message is what the CLI prints after `Error:`. */
  private failure(what: string, r: Answer): ExternalToolError {
    this.log.warn({ status: r.status, body: r.body.slice(0, 2000) }, `${what} failed`);
    let reason = `HTTP ${r.status}`;
    try {
      const parsed = JSON.parse(r.body) as { message?: unknown; cause?: unknown };
      const text = typeof parsed.message === 'string' && parsed.message ? parsed.message : parsed.cause;
      if (typeof text === 'string' && text) reason = summarizePodmanError(text);
    } catch {
      // Not JSON: keep the status.
    }
    const hint = /image not known/.test(reason) ? 'the API does not pull: pull the image first' : undefined;
    return new ExternalToolError('podman', `${what}: ${reason}`, hint);
  }

  private async request(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<Answer> {
    const started = performance.now();
    try {
      const answer = await localRequest({
        target: { socketPath: this.socketPath },
        method,
        path: `${API_PREFIX}${path}`,
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs,
        maxResponseBytes: MAX_RESPONSE_BYTES,
      });
      this.log.debug({ method, path, status: answer.status, ms: Math.round(performance.now() - started) }, 'podman API');
      return answer;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.log.debug({ method, path, err: err.message }, 'podman API request failed');
      throw new PodmanApiUnavailable(
        err.code === 'ETIMEDOUT' ? `podman API ${method} ${path} timed out after ${timeoutMs} ms` : `podman API ${method} ${path} failed: ${err.code ?? err.message}`,
      );
    }
  }
}

function parseId(body: string): string | null {
  try {
    const id = (JSON.parse(body) as { Id?: unknown }).Id;
    return typeof id === 'string' && /^[0-9a-f]{64}$/.test(id) ? id : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The SpecGenerator body: what podman 4.3's CLI puts into it for the same `podman run` flags

/** `podman run` defaults the CLI sends and the API does not assume (seen as inspect differences). */
const CLI_DEFAULTS = {
  annotations: { 'io.kubernetes.cri-o.TTY': 'false' },
  // --http-proxy=true: the service copies its own *_proxy variables in, as the CLI copies its own.
  httpproxy: true,
  sdnotifyMode: 'container',
};

/** The JSON body of `POST /containers/create`. `env` is secret: the result must never be logged. */
export function specGenerator(o: PodmanApiRunOptions, fileEnv: Map<string, string>): Record<string, unknown> {
  // --env after --env-file: the explicit value wins.
  const env = new Map(fileEnv);
  for (const [k, v] of Object.entries(o.publicEnv ?? {})) env.set(k, v);

  const resources: { memory?: { limit: number }; cpu?: { period: number; quota: number } } = {};
  if (o.memory) resources.memory = { limit: parseGoSize(o.memory, 1024, 'memory') };
  // util.CoresToPeriodAndQuota; the server sets swap to twice the limit, as the CLI does.
  if (o.cpus != null) resources.cpu = { period: 100_000, quota: Math.trunc(o.cpus * 100_000) };

  return {
    ...CLI_DEFAULTS,
    name: o.name,
    image: o.image,
    ...(o.pod ? { pod: o.pod } : {}),
    labels: { ...o.labels },
    portmappings: (o.publish ?? []).map((p) => ({
      host_ip: p.hostIp,
      host_port: p.hostPort,
      container_port: p.containerPort,
      protocol: 'tcp',
    })),
    // fromEntries defines own properties, so even a key like `__proto__` survives into the JSON.
    env: Object.fromEntries(env),
    ...(Object.keys(resources).length > 0 ? { resource_limits: resources } : {}),
    ...(o.restart ? { restart_policy: o.restart } : {}),
    ...(o.logMaxSize ? { log_configuration: { size: parseGoSize(o.logMaxSize, 1000, 'log max-size') } } : {}),
    ...(o.command && o.command.length > 0 ? { command: o.command } : {}),
  };
}

/**
 * docker/go-units as podman uses it: `RAMInBytes` (base 1024) for `--memory`, `FromHumanSize`
 * (base 1000, so `10mb` and `10mib` are both 10,000,000) for `--log-opt max-size`. Suffixes are
 * case-insensitive: none, `b`, `k`/`m`/`g`/`t`/`p`, optionally followed by `b` or `ib`; one space
 * may separate number and suffix. Go's float syntax is wider (`1e3`); such values are refused here.
 */
export function parseGoSize(text: string, base: 1000 | 1024, what: string): number {
  const m = /^(\d+(?:\.\d*)?|\.\d+) ?(?:([kmgtp])(?:b|ib)?|b)?$/i.exec(text);
  if (!m) throw new InvalidInputError(`invalid ${what} ${JSON.stringify(text)}`);
  const power = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.trunc(Number(m[1]) * base ** power);
}

// ---------------------------------------------------------------------------------------------
// Env files, read as podman 4.3's pkg/env ParseFile reads them

/** bufio.Scanner's default limit: a line (with its `\r`, without `\n`) must stay below 64 KiB. */
const MAX_LINE_BYTES = 64 * 1024 - 1;

async function readEnvFile(path: string, what: string): Promise<Map<string, string>> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new InvalidInputError(`${what}: cannot read the env file (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return parseEnvFile(bytes, process.env);
  } catch (e) {
    if (e instanceof InvalidInputError) throw new InvalidInputError(`${what}: ${e.message}`);
    throw e;
  }
}

/**
 * Podman's `--env-file` rules (pkg/env ParseFile, v4.3.1): lines split at `\n`, one trailing
 * `\r` dropped; leading spaces and tabs dropped; empty lines and lines starting with `#` skipped.
 * The rest splits at the first `=`: the name keeps any trailing blanks, the value is verbatim (no
 * quotes, escapes, inline comments or trimming; empty is fine). A line starting with `=` is an
 * error. A line without `=` is a pass-through: `NAME` copies NAME from the environment if it is
 * set (else nothing), `PREFIX*` copies every variable starting with PREFIX. The CLI looks those up
 * in its own environment; here `environ` stands in for it (the daemon's `process.env`). Later lines
 * win. Errors name the line number, never its text (it may hold a secret).
 *
 * One deliberate difference: bytes that are not UTF-8 are refused, because the value travels in
 * JSON and would arrive changed (the CLI passes raw bytes).
 */
export function parseEnvFile(bytes: Uint8Array, environ: Record<string, string | undefined>): Map<string, string> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InvalidInputError('the env file is not valid UTF-8');
  }
  const env = new Map<string, string>();
  const lines = text.split('\n');
  // A final `\n` ends the last line rather than starting an empty one (harmless either way).
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    if (Buffer.byteLength(raw, 'utf8') > MAX_LINE_BYTES) throw new InvalidInputError(`env file line ${i + 1} is too long (64 KiB at most)`);
    const line = (raw.endsWith('\r') ? raw.slice(0, -1) : raw).replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq === 0) throw new InvalidInputError(`env file line ${i + 1}: invalid environment variable (no name before "=")`);
    if (eq > 0) {
      env.set(line.slice(0, eq), line.slice(eq + 1));
    } else if (line.endsWith('*')) {
      const prefix = line.slice(0, -1);
      for (const [k, v] of Object.entries(environ)) if (v !== undefined && k.startsWith(prefix)) env.set(k, v);
    } else {
      const v = environ[line];
      if (v !== undefined) env.set(line, v);
    }
  });
  return env;
}
