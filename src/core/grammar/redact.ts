/**
 * Redaction of command text for the audit trail and logs. Works on any input, including input
 * that the grammar refuses (unterminated quotes, megabyte arguments, control characters): the
 * refusal is audited too, and must not carry a secret value either.
 */
import { FORBIDDEN_CHAR_RE } from './limits.ts';
import { GLOBAL_FLAGS } from './spec.ts';
import type { CommandSpec } from './spec.ts';
import { scanCommandLine } from './tokenize.ts';

/** Arguments longer than this are cut in audit text (`…(N bytes)` says how long they were). */
export const REDACTED_ARG_MAX_CHARS = 200;
/** Longest redacted command text; fits `AuditEventInput.command` and `Approval.command`. */
export const REDACTED_TEXT_MAX_CHARS = 4000;

/** `web=3`: a process count (ps:scale), not a secret; config keys are uppercase. */
const PROCESS_COUNT_RE = /^[a-z][a-z0-9_]{0,29}=\d{1,3}$/;
const FORBIDDEN_GLOBAL_RE = new RegExp(FORBIDDEN_CHAR_RE.source, 'gu');

function isFlag(token: string): boolean {
  return token.startsWith('-') && token.length > 1;
}

/**
 * One argument made safe to show: the value of a `KEY=VALUE` argument becomes `***`
 * (`--flag=value` is a flag and stays), control characters become `\u{…}`, long arguments
 * are cut. `positional` is false for arguments before a bare `--`, where `-x=y` is a flag.
 */
export function redactToken(token: string, opts: { positional?: boolean; maxChars?: number } = {}): string {
  const { body, suffix } = redactParts(token, opts);
  return body + suffix;
}

/** The shown text and, when it was cut, the `…(N bytes)` that says so (kept out of quoting). */
function redactParts(token: string, opts: { positional?: boolean; maxChars?: number }): { body: string; suffix: string } {
  const maxChars = opts.maxChars ?? REDACTED_ARG_MAX_CHARS;
  let body = token;
  let suffix = '';
  const eq = token.indexOf('=');
  if (eq !== -1 && !(isFlag(token) && opts.positional !== true) && !PROCESS_COUNT_RE.test(token)) {
    body = `${token.slice(0, Math.min(eq, maxChars))}=***`;
  }
  if (body.length > maxChars) {
    body = body.slice(0, maxChars);
    suffix = `…(${Buffer.byteLength(token, 'utf8')} bytes)`;
  }
  body = body.replace(FORBIDDEN_GLOBAL_RE, (ch) => `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`);
  return { body, suffix };
}

/** Quotes an argument the way `parseCommandLine` reads it back, when it needs quoting. */
function quoteForDisplay(token: string): string {
  if (token.length > 0 && !/[\s'"\\]/u.test(token)) return token;
  return `"${token.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * Indexes of the arguments that fill a `sensitive` positional of the named command (or that
 * are extra positionals of such a command). Mirrors the parser's walk but never refuses.
 */
function sensitiveIndexes(tokens: readonly string[], commands: readonly CommandSpec[]): Set<number> {
  const out = new Set<number>();
  const command = commands.find((c) => c.name === tokens[0]);
  if (!command || !command.positionals.some((p) => p.sensitive === true)) return out;
  const valueFlags = new Set<string>();
  const altFlags = new Map<string, string>();
  for (const p of command.positionals) {
    if (!p.flag) continue;
    for (const written of [`--${p.flag.long}`, ...(p.flag.short === undefined ? [] : [`-${p.flag.short}`])]) {
      valueFlags.add(written);
      altFlags.set(written, p.name);
    }
  }
  for (const f of command.flags) {
    if (f.kind === 'value') {
      valueFlags.add(`--${f.name}`);
      if (f.short !== undefined) valueFlags.add(`-${f.short}`);
    }
  }
  const positional: number[] = [];
  const filled = new Set<string>();
  let ended = false;
  for (let i = 1; i < tokens.length; i += 1) {
    const token = tokens[i] as string;
    if (!ended && token === '--') {
      ended = true;
      continue;
    }
    if (!ended && isFlag(token) && !/^-\d/.test(token)) {
      const eq = token.indexOf('=');
      const written = eq === -1 ? token : token.slice(0, eq);
      const name = altFlags.get(written);
      if (name !== undefined) filled.add(name);
      if (eq === -1 && valueFlags.has(written)) i += 1;
      continue;
    }
    positional.push(i);
  }
  let k = 0;
  for (const p of command.positionals.filter((x) => !filled.has(x.name))) {
    const take = p.variadic === true ? positional.length - k : Math.min(1, positional.length - k);
    for (let n = 0; n < take; n += 1, k += 1) if (p.sensitive === true) out.add(positional[k] as number);
  }
  for (; k < positional.length; k += 1) out.add(positional[k] as number);
  return out;
}

/**
 * The flags (`--long`, `-s`) the named command declares, or null when no specs were given.
 * With specs but an unknown command, no flag is declared: every `--x=value` is masked.
 */
function declaredFlags(tokens: readonly string[], commands: readonly CommandSpec[]): Set<string> | null {
  if (commands.length === 0) return null;
  const out = new Set<string>();
  const command = commands.find((c) => c.name === tokens[0]);
  if (!command) return out;
  const add = (long: string, short: string | undefined): void => {
    out.add(`--${long}`);
    if (short !== undefined) out.add(`-${short}`);
  };
  for (const p of command.positionals) if (p.flag) add(p.flag.long, p.flag.short);
  for (const f of [...command.flags, ...GLOBAL_FLAGS]) add(f.name, f.short);
  return out;
}

/**
 * The command text with every secret value replaced by `***`, for the audit trail and logs.
 * Accepts Slack's raw text or the terminal's argv. With `commands` it also masks bare arguments
 * of sensitive positionals and the values of flags the command does not declare. Never throws.
 */
export function redactCommandText(input: string | readonly string[], commands: readonly CommandSpec[] = []): string {
  const tokens = typeof input === 'string' ? scanCommandLine(input).tokens : input;
  const sensitive = sensitiveIndexes(tokens, commands);
  const declared = declaredFlags(tokens, commands);
  const parts: string[] = [];
  let length = 0;
  let afterDoubleDash = false;
  let previous = '';
  for (const [i, token] of tokens.entries()) {
    let shown: string;
    const eq = token.indexOf('=');
    const flagName = isFlag(token) && eq !== -1 && !afterDoubleDash ? token.slice(0, eq) : null;
    if (sensitive.has(i)) {
      shown = eq === -1 ? '***' : `${quoteForDisplay(redactToken(token.slice(0, eq)))}=***`;
    } else if (flagName !== null && declared !== null && !declared.has(flagName)) {
      // Not a flag of this command: likely a mangled KEY=VALUE, so its value is treated as one.
      shown = `${quoteForDisplay(redactToken(flagName))}=***`;
    } else if (previous.endsWith('=') && !(isFlag(previous) && !afterDoubleDash) && !isFlag(token)) {
      // `KEY= value` (a space after `=`) still puts the value in the next argument.
      shown = '***';
    } else {
      const { body, suffix } = redactParts(token, { positional: afterDoubleDash });
      shown = quoteForDisplay(body) + suffix;
    }
    if (token === '--') afterDoubleDash = true;
    previous = token;
    if (length + shown.length + 1 > REDACTED_TEXT_MAX_CHARS - 40) {
      parts.push(`…(${tokens.length - i} more arguments)`);
      break;
    }
    parts.push(shown);
    length += shown.length + 1;
  }
  return parts.join(' ');
}
