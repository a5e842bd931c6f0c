/**
 * The front-door-independent half of running a command: parse, validate, authorize, run, and
 * record one audit event, whatever happens. Front doors (terminal, Slack) turn the result into
 * text or Block Kit. Nothing here throws: every failure becomes a result.
 */
import { randomBytes } from 'node:crypto';
import type { ProgressListener } from '../deploy/progress.ts';
import { ForbiddenError, isPvdifyError, DeployStepError } from '../errors.ts';
import type { Actor, AuditEventInput, AuditOutcome } from '../model.ts';
import { SLOT_NAME_RE } from '../names.ts';
import type { Logger } from '../ports/clock.ts';
import type { Reply } from '../reply.ts';
import type { Services } from '../services/types.ts';
import { checkTokens } from './limits.ts';
import { UsageError, parseTokens, validateArgs } from './parse.ts';
import type { ParsedCommand } from './parse.ts';
import { redactCommandText } from './redact.ts';
import { roleAtLeast } from './roles.ts';
import type { RoleResolver } from './roles.ts';
import type { CommandContext, CommandSpec } from './spec.ts';
import { parseCommandLine } from './tokenize.ts';
import { commandHelpReply } from './usage.ts';

export interface ExecuteDeps {
  services: Services;
  actor: Actor;
  commands: readonly CommandSpec[];
  /** Appends one audit event; may throw (state dir unwritable), which the result reports. */
  recordAudit(input: AuditEventInput): void;
  log: Logger;
  now(): Date;
  roleOf: RoleResolver;
  /** `pvdify` or `/pvdify`, for usage lines. */
  prog: string;
  onProgress?: ProgressListener;
}

/** A refusal or failure as a front door shows it. Never contains a secret value. */
export interface ExecutionError {
  /** The PvdifyError code, or `internal` for anything else. */
  code: string;
  /** One line: what happened. For internal errors only `internal error (ref …)`. */
  message: string;
  hint?: string;
  /** The usage line of the command (or of the whole grammar) for refusals of its shape. */
  usage?: string;
  /** Reference for internal errors: the log line carries the same ref and the details. */
  ref?: string;
  /** A failed rollout's step and the last log lines of the new instances (already redacted). */
  step?: string;
  logTail?: readonly string[];
}

interface ResultBase {
  /** The command, when the first argument named one. */
  command: CommandSpec | null;
  /** `--json` was given (and parsing got far enough to know). */
  json: boolean;
  /** The audit event as recorded (or as attempted, see `auditError`). */
  audit: AuditEventInput;
  /** Set when `recordAudit` threw: the ref of the log line with the details. */
  auditError?: string;
}

export type ExecutionResult =
  | (ResultBase & { outcome: 'ok'; reply: Reply })
  | (ResultBase & { outcome: 'refused' | 'failed'; error: ExecutionError });

/** Error codes that mean "refused, nothing changed" rather than "something broke". */
const REFUSAL_CODES = new Set(['invalid_input', 'not_found', 'conflict', 'forbidden', 'locked', 'exhausted']);

function newRef(): string {
  return `E${randomBytes(4).toString('hex')}`;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function appOf(args: unknown): string | null {
  if (typeof args === 'object' && args !== null && 'app' in args && typeof args.app === 'string') return args.app;
  return null;
}

/** Checks role and terminal-only before anything runs; ForbiddenError says why not. */
export function authorize(command: CommandSpec, actor: Actor, app: string | null, roleOf: RoleResolver): void {
  const role = roleOf(actor, app);
  if (role === null) {
    throw new ForbiddenError(`${actor.name} may not use pvdify`, 'ask an admin to add you to the pvdify policy');
  }
  if (!roleAtLeast(role, command.role)) {
    const where = app === null ? '' : ` on ${app}`;
    throw new ForbiddenError(
      `${command.name} needs the ${command.role} role${where}; ${actor.name} has ${role}`,
      'ask an admin for the role, or ask someone who has it',
    );
  }
  if (command.terminalOnly === true && actor.terminal !== true) {
    throw new ForbiddenError(
      `${command.name} prints secret values, so it only runs in a terminal`,
      `run \`pvdify ${command.name} …\` in a shell on the server`,
    );
  }
}

/**
 * Runs one command line (Slack's text or the terminal's argv) for `deps.actor`. Records exactly
 * one audit event (ok, refused or failed) with the redacted command text.
 */
export async function executeCommand(input: string | readonly string[], deps: ExecuteDeps): Promise<ExecutionResult> {
  const commandText = redactCommandText(input, deps.commands);
  let parsed: ParsedCommand | null = null;
  let app: string | null = null;
  let stage: 'parse' | 'run' = 'parse';
  let result: ExecutionResult;
  try {
    const tokens = typeof input === 'string' ? parseCommandLine(input) : [...input];
    if (typeof input !== 'string') checkTokens(tokens);
    parsed = parseTokens(tokens, deps.commands, deps.prog);
    let reply: Reply;
    if (parsed.help) {
      reply = commandHelpReply(parsed.command, deps.prog);
    } else {
      const args: unknown = validateArgs(parsed.command, parsed.raw, deps.prog);
      app = appOf(args);
      authorize(parsed.command, deps.actor, app, deps.roleOf);
      const ctx: CommandContext = {
        services: deps.services,
        actor: deps.actor,
        now: deps.now,
        commands: deps.commands,
        prog: deps.prog,
        onProgress: deps.onProgress,
      };
      stage = 'run';
      reply = await parsed.command.run(ctx, args);
    }
    result = {
      outcome: 'ok',
      reply,
      command: parsed.command,
      json: parsed.json,
      audit: auditInput(deps.actor, commandText, reply.app ?? app, 'ok', reply.auditRef ?? null, null),
    };
  } catch (e) {
    // A refusal of the arguments still belongs to the app it names, when the name is valid:
    // `audit --app X` must show refused attempts on X too.
    if (app === null && parsed !== null) {
      const named = (parsed.raw as Record<string, unknown>).app;
      if (typeof named === 'string' && SLOT_NAME_RE.test(named)) app = named;
    }
    let error: ExecutionError;
    let outcome: 'refused' | 'failed';
    if (isPvdifyError(e)) {
      error = { code: e.code, message: oneLine(e.message, 2000) };
      if (e.hint !== undefined) error.hint = e.hint;
      if (e instanceof UsageError) error.usage = e.usage;
      if (e instanceof DeployStepError) {
        error.step = e.step;
        error.logTail = e.logTail;
      }
      outcome = stage === 'parse' || REFUSAL_CODES.has(e.code) ? 'refused' : 'failed';
      deps.log.info({ code: e.code, command: commandText, outcome }, 'command not completed');
    } else {
      const ref = newRef();
      error = { code: 'internal', message: `internal error (ref ${ref})`, hint: 'the details are in the pvdify log', ref };
      outcome = 'failed';
      deps.log.error({ err: e, ref, command: commandText, actor: deps.actor.id }, 'internal error');
    }
    result = {
      outcome,
      error,
      command: parsed?.command ?? null,
      json: parsed?.json ?? false,
      audit: auditInput(deps.actor, commandText, app, outcome, error.ref ?? null, error.message),
    };
  }
  try {
    deps.recordAudit(result.audit);
  } catch (e) {
    const ref = newRef();
    deps.log.error({ err: e, ref, command: commandText }, 'audit event could not be recorded');
    result.auditError = ref;
  }
  deps.log.info(
    { command: result.command?.name ?? null, app: result.audit.app, outcome: result.outcome, actor: deps.actor.id },
    'command',
  );
  return result;
}

function auditInput(
  actor: Actor,
  command: string,
  app: string | null,
  outcome: AuditOutcome,
  ref: string | null,
  detail: string | null,
): AuditEventInput {
  return {
    actor_id: actor.id.slice(0, 200),
    actor_name: actor.name.slice(0, 200),
    source: actor.source,
    channel: actor.channel ?? null,
    command,
    app: app === null ? null : app.slice(0, 100),
    outcome,
    ref: ref === null ? null : ref.slice(0, 200),
    detail: detail === null ? null : oneLine(detail, 2000),
  };
}
