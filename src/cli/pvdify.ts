/**
 * `pvdify`: the `/pvdify` grammar on the server's terminal, run as `cli:<unix user>`. Opens the
 * runtime only for commands that need state, so `help` and usage errors work without it.
 */
import { userInfo } from 'node:os';
import { formatProgress } from './text-render.ts';
import type { Actor, AuditEventInput } from '../core/model.ts';
import type { Logger } from '../core/ports/clock.ts';
import type { Services } from '../core/services/types.ts';
import { EXIT_INTERNAL, EXIT_REFUSED, dispatch, needsRuntime } from './dispatch.ts';
import type { DispatchResult } from './dispatch.ts';
import { isPvdifyError } from '../core/errors.ts';

/** What the CLI needs from `openRuntime` in `src/main.ts`. */
export interface CliRuntime {
  services: Services;
  recordAudit(input: AuditEventInput): void;
  log: Logger;
  clock?: { now(): Date };
  close(): Promise<void>;
}

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface CliDeps {
  io: CliIo;
  /** Opens the runtime; defaults to `openRuntime(readEnvOptions(process.env))`. */
  openRuntime(): Promise<CliRuntime>;
  actor: Actor;
}

export function cliActor(user: string = currentUser()): Actor {
  return { id: `cli:${user}`, name: user, source: 'cli', channel: null, terminal: true };
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (some containers): the uid is still a stable identity.
    return `uid${process.getuid?.() ?? 'unknown'}`;
  }
}

async function openDefaultRuntime(): Promise<CliRuntime> {
  // Imported lazily: a broken store or native module must not stop `help` from working.
  const main = await import('../main.ts');
  return main.openRuntime(main.readEnvOptions(process.env));
}

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

type LogLevel = 'debug' | 'info' | 'warn' | 'error';
interface BufferedLine {
  level: LogLevel;
  bindings: Record<string, unknown>;
  obj: object | string;
  msg: string | undefined;
}

/** Holds log lines until a real logger exists (or drops them if none ever does). */
function bufferLogger(lines: BufferedLine[], bindings: Record<string, unknown> = {}): Logger {
  const at =
    (level: LogLevel) =>
    (obj: object | string, msg?: string): void => {
      lines.push({ level, bindings, obj, msg });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => bufferLogger(lines, { ...bindings, ...more }),
  };
}

/** Services for commands that never touch state; reaching one is a bug, reported as internal. */
const offlineServices = new Proxy({} as Services, {
  get(_target, prop) {
    throw new Error(`services.${String(prop)} used by a command answered without the runtime`);
  },
});

/**
 * Answers without the runtime, then tries to open it to record the audit event and the log
 * lines. A state dir that cannot be opened only costs the audit of a refused or help command.
 */
async function runOffline(argv: string[], deps: CliDeps): Promise<DispatchResult> {
  const pending: AuditEventInput[] = [];
  const lines: BufferedLine[] = [];
  const result = await dispatch(argv, {
    services: offlineServices,
    actor: deps.actor,
    recordAudit: (input) => pending.push(input),
    log: bufferLogger(lines),
    now: () => new Date(),
  });
  try {
    const runtime = await deps.openRuntime();
    try {
      for (const input of pending) runtime.recordAudit(input);
      for (const line of lines) {
        const obj = typeof line.obj === 'string' ? { ...line.bindings, msg: line.obj } : { ...line.bindings, ...line.obj };
        runtime.log[line.level](obj, line.msg);
      }
    } finally {
      await closeQuietly(runtime);
    }
  } catch {
    // Best effort by design: see the function comment.
  }
  return result;
}

async function runOnline(argv: string[], deps: CliDeps): Promise<DispatchResult> {
  let runtime: CliRuntime;
  try {
    runtime = await deps.openRuntime();
  } catch (e) {
    if (isPvdifyError(e)) {
      return { exitCode: EXIT_REFUSED, stdout: '', stderr: `error: ${e.message}\n${e.hint === undefined ? '' : `hint: ${e.hint}\n`}` };
    }
    // No log exists yet to put the details in; the operator on this terminal needs them.
    const why = e instanceof Error ? e.message : String(e);
    return {
      exitCode: EXIT_INTERNAL,
      stdout: '',
      stderr: `error: cannot open the pvdify state: ${why}\nhint: check PVDIFY_STATE_DIR and run as the pvdify user or root\n`,
    };
  }
  try {
    return await dispatchWithRuntime(runtime, argv, deps.actor, (line) => deps.io.stderr(line));
  } finally {
    await closeQuietly(runtime);
  }
}

/**
 * One command against an open runtime, progress lines as the terminal shows them. Shared by the
 * CLI (a runtime of its own) and pvdifyd's control socket (the daemon's runtime).
 */
export function dispatchWithRuntime(runtime: CliRuntime, argv: string[], actor: Actor, onProgressLine: (line: string) => void): Promise<DispatchResult> {
  const clock = runtime.clock;
  return dispatch(argv, {
    services: runtime.services,
    actor,
    recordAudit: (input) => runtime.recordAudit(input),
    log: runtime.log,
    now: () => clock?.now() ?? new Date(),
    onProgress: (event) => onProgressLine(formatProgress(event)),
  });
}

/** Closing happens after the reply is decided; a failure to close must not replace it. */
async function closeQuietly(runtime: CliRuntime): Promise<void> {
  try {
    await runtime.close();
  } catch (e) {
    runtime.log.warn({ err: e }, 'closing the runtime failed');
  }
}

/** Runs `pvdify ARGV…`, writes the reply, returns the exit code. */
export async function runCli(argv: string[], overrides: Partial<CliDeps> = {}): Promise<number> {
  const deps: CliDeps = {
    io: overrides.io ?? defaultIo,
    openRuntime: overrides.openRuntime ?? openDefaultRuntime,
    actor: overrides.actor ?? cliActor(),
  };
  const result = needsRuntime(argv) ? await runOnline(argv, deps) : await runOffline(argv, deps);
  if (result.stdout.length > 0) deps.io.stdout(result.stdout);
  if (result.stderr.length > 0) deps.io.stderr(result.stderr);
  return result.exitCode;
}
