/**
 * Redaction of command text for the audit trail and logs. Works on any input, including input
 * that the grammar refuses (unterminated quotes, megabyte arguments, control characters): the
 * refusal is audited too, and must not carry a secret value either.
 */
import { FORBIDDEN_CHAR_RE } from './limits.ts';
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
 * The command text with every secret value replaced by `***`, for the audit trail and logs.
 * Accepts Slack's raw text or the terminal's argv. Never throws.
 */
export function redactCommandText(input: string | readonly string[]): string {
  const tokens = typeof input === 'string' ? scanCommandLine(input).tokens : input;
  const parts: string[] = [];
  let length = 0;
  let afterDoubleDash = false;
  let previous = '';
  for (const [i, token] of tokens.entries()) {
    let shown: string;
    // `KEY= value` (a space after `=`) still puts the value in the next argument.
    if (previous.endsWith('=') && !(isFlag(previous) && !afterDoubleDash) && !isFlag(token)) shown = '***';
    else {
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
