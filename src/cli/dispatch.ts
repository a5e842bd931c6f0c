/**
 * The terminal front door: argv in, exit code and text out. Parsing, validation, roles,
 * running and auditing are `executeCommand`'s (shared with Slack); this file only decides how
 * a result looks on a terminal and which exit code it gets.
 */
import { COMMANDS } from '../../commands/index.ts';
import type { ProgressListener } from '../core/deploy/progress.ts';
import { executeCommand } from '../core/grammar/execute.ts';
import type { ExecutionError, ExecutionResult } from '../core/grammar/execute.ts';
import { checkTokens } from '../core/grammar/limits.ts';
import { parseTokens, validateArgs } from '../core/grammar/parse.ts';
import type { RoleResolver } from '../core/grammar/roles.ts';
import type { CommandSpec } from '../core/grammar/spec.ts';
import type { Actor, AuditEventInput } from '../core/model.ts';
import type { Logger } from '../core/ports/clock.ts';
import type { Services } from '../core/services/types.ts';
import { renderText } from './text-render.ts';

export const PROG = 'pvdify';

/** Exit codes: 0 done, 1 refused or a known failure (message says why), 2 internal error. */
export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_INTERNAL = 2;

export interface DispatchDeps {
  services: Services;
  actor: Actor;
  recordAudit(input: AuditEventInput): void;
  log: Logger;
  now(): Date;
  /** Defaults to every command module. */
  commands?: readonly CommandSpec[];
  /** Defaults to `cliRoleOf`. */
  roleOf?: RoleResolver;
  onProgress?: ProgressListener;
}

export interface DispatchResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Whoever can run `pvdify` on the server can read the state dir and the age key anyway, so
 * terminal actors are admins. Slack actors get their role from the policy file instead.
 */
export const cliRoleOf: RoleResolver = (actor) => (actor.source === 'cli' ? 'admin' : null);

export function renderError(error: ExecutionError): string {
  let out = `error: ${error.message}\n`;
  if (error.usage !== undefined) out += `usage: ${error.usage}\n`;
  if (error.hint !== undefined) out += `hint: ${error.hint}\n`;
  if (error.logTail !== undefined && error.logTail.length > 0) {
    out += `last log lines of the new instances:\n${error.logTail.map((l) => `  | ${l}`).join('\n')}\n`;
  }
  return out;
}

export function toDispatchResult(result: ExecutionResult): DispatchResult {
  let out: DispatchResult;
  if (result.outcome === 'ok') {
    const stdout = result.json ? `${JSON.stringify(result.reply.json, null, 2)}\n` : renderText(result.reply);
    out = { exitCode: EXIT_OK, stdout, stderr: '' };
  } else {
    out = {
      exitCode: result.error.code === 'internal' ? EXIT_INTERNAL : EXIT_REFUSED,
      stdout: '',
      stderr: renderError(result.error),
    };
  }
  if (result.auditError !== undefined) {
    // The trail is the point of the audit log: an unrecorded command is not a clean success.
    out.stderr += `warning: the audit event could not be recorded (ref ${result.auditError}); see the pvdify log\n`;
    if (out.exitCode === EXIT_OK) out.exitCode = EXIT_INTERNAL;
  }
  return out;
}

/** Runs one `pvdify …` invocation. Never throws. */
export async function dispatch(argv: readonly string[], deps: DispatchDeps): Promise<DispatchResult> {
  const result = await executeCommand(argv, {
    services: deps.services,
    actor: deps.actor,
    commands: deps.commands ?? COMMANDS,
    recordAudit: (input) => deps.recordAudit(input),
    log: deps.log,
    now: deps.now,
    roleOf: deps.roleOf ?? cliRoleOf,
    prog: PROG,
    onProgress: deps.onProgress,
  });
  return toDispatchResult(result);
}

/**
 * Whether `argv` needs the state at all: `help`, `--help` and anything the grammar refuses are
 * answered without it, so they work when the state dir is missing or unreadable.
 */
export function needsRuntime(argv: readonly string[], commands: readonly CommandSpec[] = COMMANDS): boolean {
  try {
    checkTokens(argv);
    const parsed = parseTokens(argv, commands, PROG);
    if (parsed.help || parsed.command.name === 'help') return false;
    validateArgs(parsed.command, parsed.raw, PROG);
    return true;
  } catch {
    return false;
  }
}
