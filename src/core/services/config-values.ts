/** Pure helpers for config values: validation of `K=V` pairs and their masked display. */
import { InvalidInputError } from '../errors.ts';
import { CONFIG_KEY_RE } from '../names.ts';

/** 32 KiB per value is far above any sane env var and keeps env files and SOPS docs small. */
export const MAX_CONFIG_VALUE_BYTES = 32 * 1024;
export const MAX_CONFIG_KEYS = 500;

/**
 * Refuses pairs that could not be stored or rendered: bad or duplicate keys, values with
 * newline, CR or NUL (Podman env files are line-based), oversized values. Messages name the key,
 * never the value.
 */
export function validateConfigPairs(pairs: ReadonlyArray<readonly [string, string]>): void {
  if (pairs.length === 0) throw new InvalidInputError('no KEY=VALUE pairs given', 'for example: config:set myapp API_KEY=abc123');
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const [key, value] of pairs) {
    if (key === '') problems.push('a pair has an empty key');
    else if (!CONFIG_KEY_RE.test(key) || key.length > 255) problems.push(`${JSON.stringify(key.slice(0, 60))} is not a valid key (use [A-Z_][A-Z0-9_]*)`);
    else if (seen.has(key)) problems.push(`${key} is given twice`);
    seen.add(key);
    if (/[\n\r\0]/.test(value)) problems.push(`the value of ${key} contains a newline, carriage return or NUL, which env files cannot hold`);
    if (Buffer.byteLength(value, 'utf8') > MAX_CONFIG_VALUE_BYTES) problems.push(`the value of ${key} is longer than ${MAX_CONFIG_VALUE_BYTES} bytes`);
  }
  if (problems.length > 0) throw new InvalidInputError(problems.join('; '));
}

export function validateConfigKeys(keys: readonly string[]): void {
  if (keys.length === 0) throw new InvalidInputError('no keys given', 'for example: config:unset myapp API_KEY');
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const key of keys) {
    if (!CONFIG_KEY_RE.test(key) || key.length > 255) problems.push(`${JSON.stringify(key.slice(0, 60))} is not a valid key (use [A-Z_][A-Z0-9_]*)`);
    else if (seen.has(key)) problems.push(`${key} is given twice`);
    seen.add(key);
  }
  if (problems.length > 0) throw new InvalidInputError(problems.join('; '));
}

export function maskValue(length: number): string {
  return `•••••••• (${length} chars)`;
}
