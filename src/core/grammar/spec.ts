/**
 * The declarative shape of a command. Command modules (`commands/*.ts`) export one each; the
 * parser reads `positionals` and `flags`, validates with `args`, and the executor checks `role`
 * and `terminalOnly` before calling `run`. Declared in core so the executor can be written
 * against it without importing the command modules.
 */
import type { z } from 'zod';
import type { ProgressListener } from '../deploy/progress.ts';
import type { Actor } from '../model.ts';
import type { Reply } from '../reply.ts';
import type { Services } from '../services/types.ts';
import type { Role } from './roles.ts';

/** A positional argument, filled from left to right. */
export interface PositionalSpec {
  /** Key in the parsed arguments object (and in the zod schema). */
  name: string;
  /** How usage and errors name it: `NAME`, `KEY=VALUE`, `vN`. */
  label: string;
  required: boolean;
  /** Takes all remaining positional arguments (must be last); `required` means at least one. */
  variadic?: boolean;
  /**
   * The argument may be given as a flag instead (`-a NAME` / `--app NAME`, Heroku style). When
   * it is, the remaining positionals shift left.
   */
  flag?: { long: string; short?: string };
  /**
   * Arguments here may be secrets (`config:set`'s KEY=VALUE): redaction masks any that is not
   * KEY=VALUE whole, so `config:set app API_KEY hunter2` (a space for the `=`) is not kept.
   */
  sensitive?: boolean;
}

/** A flag: `--name value`, `--name=value`, `-s value`, or a boolean `--name`. */
export interface FlagSpec {
  /** Long name without dashes; also the key in the parsed arguments object. */
  name: string;
  /** One letter, used as `-x`. */
  short?: string;
  /** Boolean flags take no value; value flags take exactly one. */
  kind: 'boolean' | 'value';
  /** How usage names the value: `N`, `ENV`, `DATE`. */
  valueLabel?: string;
  description: string;
}

/** What a command's `run` receives besides its arguments. */
export interface CommandContext {
  services: Services;
  actor: Actor;
  now(): Date;
  /** Every command the front door knows (for `help`). */
  commands: readonly CommandSpec[];
  /** How the front door is invoked in usage lines: `pvdify` or `/pvdify`. */
  prog: string;
  /** Receives rollout steps as they happen (the terminal prints them; Slack edits its message). */
  onProgress?: ProgressListener;
}

/** A command module. `S` is the zod schema of its parsed arguments. */
export interface CommandSpec<S extends z.ZodType = z.ZodType> {
  /** `apps:create`; lowercase, `topic` or `topic:verb`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage without the program name: `apps:create NAME [--env production|staging|preview]`. */
  usage: string;
  positionals: readonly PositionalSpec[];
  flags: readonly FlagSpec[];
  /** Validates the raw parsed arguments (strings, string arrays, booleans) into what `run` gets. */
  args: S;
  role: Role;
  /** True when the command may change state (used by policy and by the fuzz invariants). */
  sideEffects: boolean;
  /** Prints secret values: refused unless the actor is on a terminal. */
  terminalOnly?: boolean;
  // Method syntax on purpose: it keeps specs with different schemas assignable to CommandSpec.
  run(ctx: CommandContext, args: z.output<S>): Promise<Reply>;
}

/** Flags every command accepts; the parser handles them, they never reach a command's schema. */
export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: 'json', kind: 'boolean', description: 'print the result as JSON' },
  { name: 'help', short: 'h', kind: 'boolean', description: 'show usage for this command' },
];
