/**
 * Renders config values in Podman's `--env-file` syntax. Podman (4.x except 4.7, and 5.x)
 * reads the file line by line with Go's bufio.Scanner: leading blanks of a line are dropped,
 * lines starting with `#` are comments, the rest splits at the first `=` and the value is
 * taken verbatim (no quotes, no escapes, trailing blanks kept). So a value survives unless it
 * holds a line break or NUL, or its line exceeds the scanner's 64 KiB buffer; those are refused.
 */
import { InvalidInputError } from '../../core/errors.ts';
import { CONFIG_KEY_RE } from '../../core/names.ts';

/** bufio.MaxScanTokenSize is 64 KiB and the newline must fit in the buffer too. */
export const MAX_ENV_LINE_BYTES = 64 * 1024 - 1;

const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * One `KEY=value` line per key, sorted by key, each ending in `\n`. Throws InvalidInputError
 * naming the key (never the value) for anything Podman would read back differently.
 */
export function renderEnvFile(values: Record<string, string>): string {
  const keys = Object.keys(values).sort();
  let out = '';
  for (const key of keys) {
    if (!CONFIG_KEY_RE.test(key)) {
      throw new InvalidInputError(`${JSON.stringify(key)} is not a valid environment variable name`, 'config keys match [A-Z_][A-Z0-9_]*');
    }
    const value = values[key];
    if (typeof value !== 'string') throw new InvalidInputError(`the value of ${key} is not a string`);
    if (/[\n\r]/.test(value)) {
      throw new InvalidInputError(`the value of ${key} contains a line break, which an env file cannot carry`, `store it base64-encoded, or as a file, and decode it in the app`);
    }
    if (value.includes('\0')) throw new InvalidInputError(`the value of ${key} contains a NUL byte, which environment variables cannot hold`);
    if (LONE_SURROGATE_RE.test(value)) throw new InvalidInputError(`the value of ${key} is not valid Unicode text`);
    const line = `${key}=${value}`;
    if (Buffer.byteLength(line, 'utf8') > MAX_ENV_LINE_BYTES) {
      throw new InvalidInputError(`the value of ${key} is too long for an env file (at most ${MAX_ENV_LINE_BYTES} bytes per line)`, 'store large values in a file instead');
    }
    out += `${line}\n`;
  }
  return out;
}
