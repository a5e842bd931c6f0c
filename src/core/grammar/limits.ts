/**
 * Hard limits on what a command line may contain, checked before any other parsing so that a
 * huge or binary argument never reaches the parser, a suggestion search or a service.
 */
import { InvalidInputError } from '../errors.ts';

/** Longest single argument, in UTF-8 bytes. */
export const MAX_ARG_BYTES = 64 * 1024;
/** Longest command line (arguments plus separators), in UTF-8 bytes. */
export const MAX_LINE_BYTES = 256 * 1024;

/**
 * Characters refused anywhere in an argument: C0/C1 controls and DEL (NUL would truncate a
 * path or a C string; newlines forge log lines), bidirectional overrides (text that displays
 * differently from what runs) and lone surrogates (not valid UTF-8).
 */
export const FORBIDDEN_CHAR_RE =
  /[\p{Cc}\u202A-\u202E\u2066-\u2069]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u;

export function codePointLabel(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Refuses a command line that is too long, has a too-long argument or a forbidden character. */
export function checkTokens(tokens: readonly string[]): void {
  let total = Math.max(0, tokens.length - 1);
  for (const [i, token] of tokens.entries()) {
    const bytes = Buffer.byteLength(token, 'utf8');
    if (bytes > MAX_ARG_BYTES) {
      throw new InvalidInputError(
        `argument too long: argument ${i + 1} has ${bytes} bytes (at most ${MAX_ARG_BYTES})`,
        'large values belong in a file or an image, not on the command line',
      );
    }
    total += bytes;
    if (total > MAX_LINE_BYTES) {
      throw new InvalidInputError(`command line too long: more than ${MAX_LINE_BYTES} bytes`);
    }
  }
  for (const [i, token] of tokens.entries()) {
    const bad = FORBIDDEN_CHAR_RE.exec(token);
    if (bad) {
      // KEY=VALUE with a newline in the value: name the key (never the value), as config:set would.
      const pair = /^([A-Za-z_][A-Za-z0-9_]{0,254})=/.exec(token);
      if (pair && bad.index > (pair[1]?.length ?? 0)) {
        throw new InvalidInputError(
          `the value of ${pair[1]} contains a control character (${codePointLabel(bad[0])}); env files cannot hold newlines or other control characters`,
          'put multi-line values (certificates, keys) in a file the image reads, or encode them (base64)',
        );
      }
      throw new InvalidInputError(
        `argument ${i + 1} contains a control or invisible formatting character (${codePointLabel(bad[0])})`,
        'retype the command without pasting hidden characters',
      );
    }
  }
}
