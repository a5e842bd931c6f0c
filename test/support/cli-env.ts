/**
 * A throwaway environment for driving the real executables (`bin/pvdify.js`, `bin/pvdifyd.js`)
 * as child processes: a temp dir with the state dir, age key file, CLI log and snapshot dir, an
 * environment that points every `PVDIFY_*` variable there (and at no router, no systemd, no
 * podman), and `run()`, which spawns a binary with a timeout and collects its output.
 *
 * Also `snapshotStateDir`, the canonical "did anything change" listing of a state dir that the
 * end-to-end tests and the real-store fuzz share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type Bin = 'pvdify' | 'pvdifyd';

export function binPath(bin: Bin): string {
  return join(REPO_ROOT, 'bin', `${bin}.js`);
}

/** `<repo>/../shared/fixtures`, or `PVDIFY_FIXTURES_DIR`. */
export function fixturesDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PVDIFY_FIXTURES_DIR || join(REPO_ROOT, '..', 'shared', 'fixtures');
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  /** Merged over the env's variables; `undefined` removes one. */
  env?: Record<string, string | undefined>;
  /** Default 30 s; a run that takes longer is killed and the promise rejects. */
  timeoutMs?: number;
  cwd?: string;
}

export interface TranscriptEntry {
  bin: Bin;
  args: string[];
  result: RunResult;
}

export interface CliEnv {
  /** The temp dir holding everything below. */
  dir: string;
  stateDir: string;
  ageKeyFile: string;
  logFile: string;
  snapshotDir: string;
  /** The environment every run gets (before `opts.env`). */
  env: Record<string, string>;
  /** Every run so far, for "no secret in any output" checks. */
  transcript: TranscriptEntry[];
  run(bin: Bin, args: string[], opts?: RunOptions): Promise<RunResult>;
  /** Starts a long-running binary (`pvdifyd serve`); the caller stops it. Killed on cleanup. */
  start(bin: Bin, args: string[], opts?: Omit<RunOptions, 'timeoutMs'>): ChildProcess;
  /** `pvdifyd keygen`, asserting it worked. */
  keygen(): Promise<void>;
  cleanup(): void;
}

/**
 * Strips the caller's `PVDIFY_*` (and `FUZZ_*`, `NODE_OPTIONS`) so the machine's configuration
 * can never point a test at a real state dir or daemon.
 */
function baseEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('PVDIFY_') || k.startsWith('FUZZ_') || k === 'NODE_OPTIONS' || k === 'NODE_TEST_CONTEXT') continue;
    out[k] = v;
  }
  return out;
}

export function createCliEnv(opts: { prefix?: string; cloudflared?: string; extraEnv?: Record<string, string> } = {}): CliEnv {
  const dir = mkdtempSync(join(tmpdir(), opts.prefix ?? 'pvdify-cli-'));
  const stateDir = join(dir, 'state');
  const ageKeyFile = join(dir, 'keys', 'age.key');
  const logFile = join(dir, 'cli.log');
  const snapshotDir = join(dir, 'snapshots');
  const work = join(dir, 'cwd');
  mkdirSync(work);
  const env: Record<string, string> = {
    ...baseEnv(),
    PVDIFY_STATE_DIR: stateDir,
    PVDIFY_AGE_KEY_FILE: ageKeyFile,
    PVDIFY_LOG: logFile,
    PVDIFY_SNAPSHOT_DIR: snapshotDir,
    PVDIFY_CLOUDFLARED: opts.cloudflared ?? '/nonexistent/cloudflared',
    PVDIFY_ROUTER: 'none',
    PVDIFY_SUPERVISOR: 'podman',
    // Never a real podman, systemctl or journalctl: nothing here may touch the host's containers.
    PVDIFY_PODMAN: '/nonexistent/podman',
    PVDIFY_SYSTEMCTL: '/nonexistent/systemctl',
    PVDIFY_JOURNALCTL: '/nonexistent/journalctl',
    PVDIFY_CADDY_ADMIN: '127.0.0.1:1',
    ...opts.extraEnv,
  };
  const transcript: TranscriptEntry[] = [];
  const children = new Set<ChildProcess>();

  function childEnv(over: Record<string, string | undefined> = {}): Record<string, string> {
    const merged: Record<string, string> = { ...env };
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) delete merged[k];
      else merged[k] = v;
    }
    return merged;
  }

  function start(bin: Bin, args: string[], o: Omit<RunOptions, 'timeoutMs'> = {}): ChildProcess {
    const child = spawn(process.execPath, [binPath(bin), ...args], {
      cwd: o.cwd ?? work,
      env: childEnv(o.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  }

  function run(bin: Bin, args: string[], o: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = o.timeoutMs ?? 30_000;
    const started = performance.now();
    const child = start(bin, args, o);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${bin} ${args.join(' ').slice(0, 200)} did not finish within ${timeoutMs} ms; stderr so far: ${stderr.slice(0, 2000)}`));
      }, timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const result: RunResult = { code, signal, stdout, stderr, durationMs: performance.now() - started };
        transcript.push({ bin, args, result });
        resolve(result);
      });
    });
  }

  return {
    dir,
    stateDir,
    ageKeyFile,
    logFile,
    snapshotDir,
    env,
    transcript,
    run,
    start,
    async keygen() {
      const r = await run('pvdifyd', ['keygen']);
      if (r.code !== 0) throw new Error(`pvdifyd keygen failed (${r.code}): ${r.stderr}`);
    },
    cleanup() {
      for (const child of children) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Paths under a state dir that commands may legitimately change (the audit trail, the index, logs). */
export function isVolatileStatePath(rel: string): boolean {
  const top = rel.split('/')[0] ?? '';
  return top === 'audit' || top === 'logs' || top.startsWith('pvdifyd.db') || top.startsWith('pvdifyd.lock.db');
}

/** Every file under `root` (relative paths, sorted), directories excluded. */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const name of names.sort()) {
      const full = join(dir, name);
      const st = statSync(full, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(full);
      else out.push(relative(root, full));
    }
  };
  walk(root);
  return out.sort();
}

/**
 * The state dir as canonical text: one line per directory and file (path, mode, sha256 of the
 * content), except the audit trail, the index, the lock db and logs. Equal text means no
 * command changed the state.
 */
export function snapshotStateDir(root: string): string {
  const lines: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const name of names.sort()) {
      const full = join(dir, name);
      const rel = relative(root, full);
      if (isVolatileStatePath(rel)) continue;
      const st = statSync(full, { throwIfNoEntry: false });
      if (!st) continue;
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        lines.push(`${rel}/ ${mode}`);
        walk(full);
      } else {
        lines.push(`${rel} ${mode} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
      }
    }
  };
  walk(root);
  return lines.join('\n');
}

/** Files under `root` whose bytes contain `needle` (UTF-8), as relative paths. */
export function filesContaining(root: string, needle: string): string[] {
  const bytes = Buffer.from(needle, 'utf8');
  return listFiles(root).filter((rel) => readFileSync(join(root, rel)).includes(bytes));
}

/** A stack trace line as Node prints them (`    at fn (file:1:2)`). */
export const STACK_TRACE_RE = /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/m;

/** Polls `check` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
