/**
 * The grammar: turns arguments (argv, or `parseCommandLine`'s output) into a command and its
 * raw arguments, driven by each command's declared positionals and flags, then validates them
 * with the command's zod schema. Heroku style: `apps:info NAME` or `apps:info -a NAME`,
 * `--flag value` or `--flag=value`, boolean flags, `--` ends flags, repeats are refused.
 */
import type { z } from 'zod';
import { InvalidInputError } from '../errors.ts';
import { redactToken } from './redact.ts';
import { GLOBAL_FLAGS } from './spec.ts';
import type { CommandSpec, FlagSpec, PositionalSpec } from './spec.ts';
import { suggest } from './suggest.ts';

/** A refusal of the command line's shape; `usage` is the line to show under the reason. */
export class UsageError extends InvalidInputError {
  readonly usage: string;
  constructor(message: string, usage: string, hint?: string) {
    super(message, hint);
    this.usage = usage;
  }
}

/** Raw values before validation: strings for value flags and positionals, arrays for variadics. */
export type RawArgs = Record<string, string | string[] | boolean>;

export interface ParsedCommand {
  command: CommandSpec;
  raw: RawArgs;
  /** `--json`: print the reply's data instead of its blocks. */
  json: boolean;
  /** `--help`/`-h`: show the command's usage instead of running it. */
  help: boolean;
}

/** An argument as error messages may show it: secret values masked, long ones cut, quoted. */
export function shown(token: string): string {
  return `\`${redactToken(token, { positional: true, maxChars: 60 })}\``;
}

export function usageLine(prog: string, command: CommandSpec): string {
  return `${prog} ${command.usage}`;
}

interface FlagMatch {
  /** Key in RawArgs. */
  key: string;
  display: string;
  kind: 'boolean' | 'value';
  valueLabel: string;
}

function flagTable(command: CommandSpec): FlagMatch[] {
  const out: FlagMatch[] = [];
  const add = (long: string, short: string | undefined, key: string, kind: FlagMatch['kind'], valueLabel: string): void => {
    out.push({ key, display: `--${long}`, kind, valueLabel });
    if (short !== undefined) out.push({ key, display: `-${short}`, kind, valueLabel });
  };
  for (const p of command.positionals) if (p.flag) add(p.flag.long, p.flag.short, p.name, 'value', p.label);
  for (const f of [...command.flags, ...GLOBAL_FLAGS]) add(f.name, f.short, f.name, f.kind, f.valueLabel ?? 'VALUE');
  return out;
}

function longDisplay(command: CommandSpec, key: string): string {
  const p = command.positionals.find((x) => x.name === key);
  if (p?.flag) return `--${p.flag.long}`;
  return `--${key}`;
}

/**
 * Picks the command and sorts the remaining arguments into flags and positionals. Throws
 * UsageError for an unknown command or flag, a repeated flag, a missing value, a missing or
 * an extra positional. Empty input, `-h` and `--help` ask for `help`.
 */
export function parseTokens(tokens: readonly string[], commands: readonly CommandSpec[], prog: string): ParsedCommand {
  const generalUsage = `${prog} COMMAND [ARGS…]`;
  const listHint = `\`${prog} help\` lists the commands`;
  const first = tokens[0];
  const helpCommand = commands.find((c) => c.name === 'help');
  if (first === undefined || first === '-h' || first === '--help') {
    if (!helpCommand) throw new UsageError('no command given', generalUsage);
    return { command: helpCommand, raw: {}, json: false, help: false };
  }
  if (first.startsWith('-') && first.length > 1) {
    throw new UsageError(`expected a command before ${shown(first)}`, generalUsage, listHint);
  }
  const command = commands.find((c) => c.name === first);
  if (!command) {
    const guess = suggest(first, commands.map((c) => c.name));
    const guessed = guess === undefined ? undefined : commands.find((c) => c.name === guess);
    if (guessed) {
      throw new UsageError(`unknown command ${shown(first)}. Did you mean \`${guessed.name}\`?`, usageLine(prog, guessed));
    }
    throw new UsageError(`unknown command ${shown(first)}`, generalUsage, listHint);
  }
  const usage = usageLine(prog, command);
  const flags = flagTable(command);
  const raw: RawArgs = {};
  const positionalTokens: string[] = [];
  let flagsEnded = false;
  for (let i = 1; i < tokens.length; i += 1) {
    const token = tokens[i] as string;
    if (!flagsEnded && token === '--') {
      flagsEnded = true;
      continue;
    }
    // `-5` is a (bad) value, not a flag: let the schema say what is wrong with it.
    if (flagsEnded || !token.startsWith('-') || token.length === 1 || /^-\d/.test(token)) {
      positionalTokens.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const written = eq === -1 ? token : token.slice(0, eq);
    const inline = eq === -1 ? undefined : token.slice(eq + 1);
    const match = flags.find((f) => f.display === written);
    if (!match) {
      const longNames = flags.filter((f) => f.display.startsWith('--')).map((f) => f.display);
      const guess = written.startsWith('--') ? suggest(written, longNames) : undefined;
      throw new UsageError(
        `unknown flag ${shown(written)} for ${command.name}${guess === undefined ? '' : `. Did you mean \`${guess}\`?`}`,
        usage,
      );
    }
    const display = longDisplay(command, match.key);
    if (match.key in raw) throw new UsageError(`\`${display}\` is given more than once`, usage);
    if (match.kind === 'boolean') {
      if (inline !== undefined) throw new UsageError(`\`${display}\` takes no value`, usage);
      raw[match.key] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = tokens[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new UsageError(`\`${display}\` needs a value (${match.valueLabel})`, usage);
      }
      value = next;
      i += 1;
    }
    raw[match.key] = value;
  }
  const json = raw.json === true;
  const help = raw.help === true;
  delete raw.json;
  delete raw.help;
  if (help) return { command, raw: {}, json, help };
  assignPositionals(command, positionalTokens, raw, usage);
  return { command, raw, json, help };
}

function assignPositionals(command: CommandSpec, tokens: string[], raw: RawArgs, usage: string): void {
  const open: PositionalSpec[] = command.positionals.filter((p) => !(p.name in raw));
  const queue = [...tokens];
  for (const p of open) {
    if (p.variadic) {
      if (p.required && queue.length === 0) throw new UsageError(`missing ${p.label}`, usage);
      if (queue.length > 0) raw[p.name] = queue.splice(0);
      continue;
    }
    const token = queue.shift();
    if (token === undefined) {
      if (p.required) throw new UsageError(`missing ${p.label}`, usage);
      continue;
    }
    raw[p.name] = token;
  }
  if (queue.length > 0) {
    const list = queue.slice(0, 3).map(shown).join(', ');
    const more = queue.length > 3 ? ` and ${queue.length - 3} more` : '';
    throw new UsageError(`unexpected argument${queue.length > 1 ? 's' : ''} ${list}${more}`, usage);
  }
}

function argLabel(command: CommandSpec, key: PropertyKey | undefined): string {
  if (typeof key !== 'string') return 'arguments';
  const p = command.positionals.find((x) => x.name === key);
  if (p) return p.label;
  const f: FlagSpec | undefined = command.flags.find((x) => x.name === key);
  return f ? `--${f.name}` : key;
}

/**
 * Validates raw arguments with the command's schema. Every problem is reported at once, each
 * named by its argument (`NAME: …; --limit: …`).
 */
export function validateArgs<S extends z.ZodType>(command: CommandSpec<S>, raw: RawArgs, prog: string): z.output<S> {
  const result = command.args.safeParse(raw);
  if (result.success) return result.data;
  const byArg = new Map<string, string[]>();
  for (const issue of result.error.issues) {
    const label = argLabel(command, issue.path[0]);
    const list = byArg.get(label) ?? [];
    if (!list.includes(issue.message)) list.push(issue.message);
    byArg.set(label, list);
  }
  const problems = [...byArg].map(([label, messages]) => `${label}: ${messages.join('; ')}`);
  throw new UsageError(problems.join('; '), usageLine(prog, command));
}
