/**
 * One SOPS leaf: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM with a 32-byte IV and
 * the key path as additional data. Plaintext bytes follow the Go implementation exactly
 * (`True`/`False`, `strconv.FormatFloat(v, 'f', -1, 64)`), because the same bytes feed the MAC.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** A decrypted leaf value, as sops types it. */
export type SopsScalar = string | number | bigint | boolean;

/** The `type:` tags we read; `time` and `bytes` come back as strings. */
export type SopsValueType = 'str' | 'int' | 'float' | 'bool' | 'bytes' | 'time' | 'comment';

const IV_BYTES = 32;
const TAG_BYTES = 16;
const ENC_RE = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]$/;
const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Why a value could not be decrypted; callers turn it into a SecretsError with the key path. */
export class SopsValueError extends Error {}

export function isEncryptedValue(text: string): boolean {
  return ENC_RE.test(text);
}

/** Plaintext byte length behind an `ENC[…]` value (GCM adds no padding), or null if it is not one. */
export function encryptedLength(text: string): number | null {
  const data = ENC_RE.exec(text)?.[1];
  if (data === undefined || !B64_RE.test(data)) return null;
  return Buffer.from(data, 'base64').length;
}

/** AAD of a leaf: each path component followed by `:` (list indices are not components). */
export function additionalData(path: readonly string[]): string {
  return path.join(':') + ':';
}

/** The sops type tag for a value (`int` for bigints and for numbers the caller says are ints). */
export function sopsTypeOf(value: SopsScalar, numberIsInt: boolean): Exclude<SopsValueType, 'bytes' | 'time' | 'comment'> {
  if (typeof value === 'string') return 'str';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'bigint') return 'int';
  return numberIsInt ? 'int' : 'float';
}

/** The bytes Go sops writes (and hashes into the MAC) for a value. */
export function goBytes(value: SopsScalar): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'bigint') return value.toString();
  if (Number.isSafeInteger(value) && !Object.is(value, -0)) return String(value);
  return formatGoFloat(value);
}

/**
 * `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that round-trip, never an exponent.
 * JS `toExponential()` without an argument yields the same shortest digit string.
 */
export function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const [mantissa = '', exponent = '0'] = v.toExponential().split('e');
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const point = 1 + Number(exponent);
  let body: string;
  if (point <= 0) body = '0.' + '0'.repeat(-point) + digits;
  else if (point >= digits.length) body = digits + '0'.repeat(point - digits.length);
  else body = digits.slice(0, point) + '.' + digits.slice(point);
  return (negative ? '-' : '') + body;
}

/** Encrypts one value (or comment text) with the data key; the empty string stays empty, as in sops. */
export function encryptValue(
  value: SopsScalar,
  type: Exclude<SopsValueType, 'bytes' | 'time'>,
  dataKey: Uint8Array,
  aad: string,
): string {
  const plain = goBytes(value);
  if (typeof value === 'string' && plain === '') return '';
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `ENC[AES256_GCM,data:${data.toString('base64')},iv:${iv.toString('base64')},tag:${tag.toString('base64')},type:${type}]`;
}

/** A decrypted leaf: `value` is typed, `macBytes` is what Go hashes for it. */
export interface DecryptedValue {
  type: SopsValueType;
  value: SopsScalar;
  macBytes: Buffer;
}

function decodeB64(text: string, what: string): Buffer {
  if (!B64_RE.test(text) || text.length % 4 !== 0) throw new SopsValueError(`${what} is not valid base64`);
  return Buffer.from(text, 'base64');
}

/**
 * Decrypts one `ENC[…]` string. Throws SopsValueError (never containing plaintext) when the
 * format, the authentication tag or the typed parse fails. `''` decrypts to `''` as in sops.
 */
export function decryptValue(text: string, dataKey: Uint8Array, aad: string): DecryptedValue {
  if (text === '') return { type: 'str', value: '', macBytes: Buffer.alloc(0) };
  const m = ENC_RE.exec(text);
  if (!m) throw new SopsValueError('not in the ENC[AES256_GCM,…] format');
  const data = decodeB64(m[1] ?? '', 'data');
  const iv = decodeB64(m[2] ?? '', 'iv');
  const tag = decodeB64(m[3] ?? '', 'tag');
  const type = m[4] ?? '';
  if (iv.length === 0) throw new SopsValueError('empty iv');
  if (tag.length !== TAG_BYTES) throw new SopsValueError(`tag is ${tag.length} bytes, expected ${TAG_BYTES}`);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', dataKey, iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    throw new SopsValueError('authentication failed (value, iv, tag or key path altered, or wrong data key)');
  }
  const text8 = plain.toString('utf8');
  switch (type) {
    case 'str':
    case 'comment':
    case 'time':
      return { type, value: text8, macBytes: plain };
    case 'bytes':
      return { type, value: text8, macBytes: plain };
    case 'int': {
      if (!/^[+-]?[0-9]+$/.test(text8)) throw new SopsValueError('type int does not hold an integer');
      const big = BigInt(text8);
      if (big < INT64_MIN || big > INT64_MAX) throw new SopsValueError('type int is out of the 64-bit range');
      const value = big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      return { type, value, macBytes: Buffer.from(big.toString(), 'utf8') };
    }
    case 'float': {
      const value = parseGoFloat(text8);
      return { type, value, macBytes: Buffer.from(formatGoFloat(value), 'utf8') };
    }
    case 'bool': {
      const value = parseGoBool(text8);
      return { type, value, macBytes: Buffer.from(value ? 'True' : 'False', 'utf8') };
    }
    default:
      throw new SopsValueError('unknown value type');
  }
}

/** `strconv.ParseFloat` for the forms sops writes and YAML users type. */
function parseGoFloat(text: string): number {
  if (/^[+-]?(inf|infinity)$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(text)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new SopsValueError('type float does not hold a number');
  return Number(text);
}

/** `strconv.ParseBool`. */
function parseGoBool(text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw new SopsValueError('type bool does not hold a boolean');
}
