/**
 * SOPS YAML documents with age recipients, read and written natively (no `sops` binary).
 * Reading always verifies every value's GCM tag and the document MAC; any failure is a
 * SecretsError whose message names key paths and recipients, never a value.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Document, Scalar, isMap, isScalar } from 'yaml';
import type { YAMLMap } from 'yaml';
import { InvalidInputError, SecretsError } from '../../core/errors.ts';
import { DATA_KEY_BYTES, unwrapDataKey, wrapDataKey } from './data-key.ts';
import type { AgeKeyEntry } from './data-key.ts';
import { parseSingleDocument, walkDocument } from './sops-tree.ts';
import type { WalkResult } from './sops-tree.ts';
import {
  SopsValueError,
  additionalData,
  decryptValue,
  encryptValue,
  goBytes,
  isEncryptedValue,
  sopsTypeOf,
} from './sops-value.ts';
import type { SopsScalar } from './sops-value.ts';

/** The sops release whose file format we write (and were tested against). */
export const SOPS_FORMAT_VERSION = '3.10.2';
const DEFAULT_UNENCRYPTED_SUFFIX = '_unencrypted';
/** sops seeds the hash with these bytes when `mac_only_encrypted` is set, so the two MACs never collide. */
const MAC_ONLY_ENCRYPTED_INIT = Buffer.from([
  0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
  0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
]);
const STRINGIFY = { indent: 4, indentSeq: true, lineWidth: 0 } as const;

/** Options for writing a SOPS document. At most one of the four selectors may be set. */
export interface SopsEncryptOptions {
  /** age recipients (`age1…`); each gets its own wrapped copy of the data key. */
  recipients: string[];
  /** Becomes `sops.lastmodified` (second precision, UTC) and the MAC's additional data. */
  now: Date;
  /** Leaves under a key ending with this stay in clear text (default `_unencrypted` when no selector is set). */
  unencryptedSuffix?: string;
  /** Only leaves under a key ending with this are encrypted. */
  encryptedSuffix?: string;
  /** Leaves under a key matching this (Go RE2 syntax, unanchored) stay in clear text. */
  unencryptedRegex?: string;
  /** Only leaves under a key matching this are encrypted. */
  encryptedRegex?: string;
  /** The MAC covers only encrypted leaves, so clear-text leaves may be edited by hand. */
  macOnlyEncrypted?: boolean;
}

/** What `sopsMetadata` tells without any key. */
export interface SopsMetadataInfo {
  recipients: string[];
  lastModified: string;
  version: string;
  macOnlyEncrypted: boolean;
  /** The selector in force (sops' default `unencrypted_suffix: _unencrypted` when none is written). */
  selector: { kind: SelectorKind; value: string };
}

type SelectorKind = 'unencrypted_suffix' | 'encrypted_suffix' | 'unencrypted_regex' | 'encrypted_regex';

interface Selector {
  kind: SelectorKind;
  value: string;
  regex?: RegExp;
}

interface ParsedMetadata extends SopsMetadataInfo {
  ageEntries: AgeKeyEntry[];
  mac: string;
  selectorRule: Selector;
}

const secretsFail = (message: string): Error => new SecretsError(message);
const inputFail = (message: string): Error => new InvalidInputError(message);

/**
 * Go's regexp is RE2; JS handles the same syntax for what people put in `.sops.yaml`, except
 * a leading `(?i)`-style flag group, which becomes a JS flag.
 */
function compileGoRegex(source: string, fail: (m: string) => Error): RegExp {
  const m = /^\(\?([ims]+)\)/.exec(source);
  try {
    return m ? new RegExp(source.slice(m[0].length), m[1]) : new RegExp(source);
  } catch {
    throw fail(`the regular expression ${JSON.stringify(source)} is not valid`);
  }
}

/** sops' `shouldBeEncrypted` for the four key selectors: any path component decides. */
function shouldEncrypt(path: readonly string[], sel: Selector): boolean {
  switch (sel.kind) {
    case 'unencrypted_suffix':
      return !path.some((k) => k.endsWith(sel.value));
    case 'encrypted_suffix':
      return path.some((k) => k.endsWith(sel.value));
    case 'unencrypted_regex':
      return !path.some((k) => sel.regex!.test(k));
    case 'encrypted_regex':
      return path.some((k) => sel.regex!.test(k));
  }
}

/**
 * sops parses `lastmodified` and formats it again with Go's RFC 3339 layout before using it as
 * the MAC's additional data: fractional seconds drop out and a zero offset becomes `Z`.
 */
export function canonicalLastModified(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) throw new SecretsError('sops.lastmodified is not an RFC 3339 timestamp', 'the file is damaged; restore it from a backup');
  const offset = m[4] === 'Z' || m[4] === 'z' || m[4] === '+00:00' || m[4] === '-00:00' ? 'Z' : m[4];
  return `${m[1]}T${m[2]}${offset}`;
}

function formatLastModified(now: Date): string {
  if (Number.isNaN(now.getTime())) throw new InvalidInputError('the timestamp for sops.lastmodified is not a valid date');
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const UNSUPPORTED_KEY_SOURCES = ['pgp', 'kms', 'gcp_kms', 'azure_kv', 'hc_vault', 'hckms'];

function parseMetadata(doc: Document, sopsNode: unknown): ParsedMetadata {
  const raw = (isMap(sopsNode) ? sopsNode.toJS(doc, { maxAliasCount: 0 }) : null) as Record<string, unknown> | null;
  if (raw === null || typeof raw !== 'object') {
    throw new SecretsError('the "sops" metadata block is not a map', 'the file is damaged; restore it from a backup');
  }
  if (raw.key_groups !== undefined || raw.shamir_threshold !== undefined) {
    throw new SecretsError('SOPS key groups (Shamir secret sharing) are not supported', 're-encrypt the file with plain age recipients');
  }
  const ageEntries: AgeKeyEntry[] = [];
  if (raw.age !== undefined) {
    if (!Array.isArray(raw.age)) throw new SecretsError('sops.age is not a list');
    for (const e of raw.age) {
      const entry = e as Record<string, unknown> | null;
      if (!entry || typeof entry.recipient !== 'string' || typeof entry.enc !== 'string') {
        throw new SecretsError('an entry of sops.age lacks recipient or enc');
      }
      ageEntries.push({ recipient: entry.recipient, enc: entry.enc });
    }
  }
  if (ageEntries.length === 0) {
    const others = UNSUPPORTED_KEY_SOURCES.filter((k) => Array.isArray(raw[k]) && (raw[k] as unknown[]).length > 0);
    throw new SecretsError(
      others.length > 0
        ? `this SOPS file has no age recipients (it uses ${others.join(', ')}, which pvdify does not support)`
        : 'this SOPS file has no age recipients',
      'have it re-encrypted for our age recipient',
    );
  }
  if (typeof raw.lastmodified !== 'string') throw new SecretsError('sops.lastmodified is missing');
  if (typeof raw.mac !== 'string' || raw.mac === '') throw new SecretsError('the SOPS file has no MAC, so it cannot be verified', 'the file is damaged; restore it from a backup');
  const version = typeof raw.version === 'string' || typeof raw.version === 'number' ? String(raw.version) : '';
  if (raw.unencrypted_comment_regex || raw.encrypted_comment_regex) {
    throw new SecretsError('SOPS comment-based selectors (encrypted_comment_regex, unencrypted_comment_regex) are not supported');
  }
  const kinds: SelectorKind[] = ['unencrypted_suffix', 'encrypted_suffix', 'unencrypted_regex', 'encrypted_regex'];
  const set = kinds.filter((k) => typeof raw[k] === 'string' && raw[k] !== '');
  if (set.length > 1) throw new SecretsError(`the SOPS file sets more than one of ${set.join(', ')}`);
  const kind = set[0] ?? 'unencrypted_suffix';
  const value = set[0] ? (raw[kind] as string) : DEFAULT_UNENCRYPTED_SUFFIX;
  const selectorRule: Selector = { kind, value };
  if (kind.endsWith('_regex')) selectorRule.regex = compileGoRegex(value, secretsFail);
  const macOnly = raw.mac_only_encrypted;
  if (macOnly !== undefined && typeof macOnly !== 'boolean') throw new SecretsError('sops.mac_only_encrypted is not a boolean');
  return {
    recipients: ageEntries.map((e) => e.recipient),
    lastModified: raw.lastmodified,
    version,
    macOnlyEncrypted: macOnly === true,
    selector: { kind, value },
    ageEntries,
    mac: raw.mac,
    selectorRule,
  };
}

/** Splits the top-level `sops` block off a parsed SOPS document. */
function takeMetadata(text: string): { doc: Document; meta: ParsedMetadata } {
  const doc = parseSingleDocument(text, secretsFail);
  const contents = doc.contents;
  const pair = isMap(contents) ? contents.items.find((p) => isScalar(p.key) && p.key.value === 'sops') : undefined;
  if (!pair || !isMap(contents)) {
    throw new SecretsError('this is not a SOPS file (no top-level "sops" metadata)', 'encrypt it first with `pvdifyd sops encrypt`');
  }
  const meta = parseMetadata(doc, pair.value);
  contents.delete(pair.key);
  return { doc, meta };
}

/** True when `text` is YAML with a top-level `sops` map, the way sops itself decides. */
export function isSopsDocument(text: string): boolean {
  try {
    const contents = parseSingleDocument(text, secretsFail).contents;
    return isMap(contents) && contents.items.some((p) => isScalar(p.key) && p.key.value === 'sops' && isMap(p.value));
  } catch {
    return false;
  }
}

/** Recipients, lastmodified, version and selector of a SOPS file, without decrypting anything. */
export function sopsMetadata(text: string): SopsMetadataInfo {
  const { meta } = takeMetadata(text);
  return {
    recipients: meta.recipients,
    lastModified: meta.lastModified,
    version: meta.version,
    macOnlyEncrypted: meta.macOnlyEncrypted,
    selector: meta.selector,
  };
}

function setPlainValue(node: Scalar, value: SopsScalar, isFloat: boolean): void {
  node.value = value;
  node.type = undefined;
  node.format = undefined;
  // Keep a whole-valued float a float when the output is read again.
  node.minFractionDigits = isFloat && typeof value === 'number' && Number.isInteger(value) ? 1 : undefined;
}

function plainLeafValue(node: Scalar): SopsScalar {
  const v = node.value as SopsScalar;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return v;
}

/** Decrypts and verifies; returns the document with values and comments in clear text. */
async function decryptToDocument(text: string, identities: readonly string[]): Promise<Document> {
  const { doc, meta } = takeMetadata(text);
  const walk = walkDocument(doc, secretsFail);
  const dataKey = await unwrapDataKey(meta.ageEntries, identities);
  const hash = createHash('sha512');
  if (meta.macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);

  for (const leaf of walk.leaves) {
    const encrypted = shouldEncrypt(leaf.path, meta.selectorRule);
    let macBytes: Buffer;
    if (encrypted) {
      if (typeof leaf.node.value !== 'string') {
        throw new SecretsError(`${leaf.where}: expected an encrypted value, found a clear-text ${typeof leaf.node.value}`, 'the file was edited by hand; restore it from a backup');
      }
      let d;
      try {
        d = decryptValue(leaf.node.value, dataKey, additionalData(leaf.path));
      } catch (e) {
        const why = e instanceof SopsValueError ? e.message : 'decryption failed';
        throw new SecretsError(`${leaf.where}: cannot decrypt the value: ${why}`, 'the file was altered or is damaged; restore it from a backup');
      }
      if (d.type === 'comment') throw new SecretsError(`${leaf.where}: a comment was found where a value belongs`);
      setPlainValue(leaf.node, d.value, d.type === 'float');
      macBytes = d.macBytes;
    } else {
      const v = plainLeafValue(leaf.node);
      leaf.node.value = v;
      macBytes = Buffer.from(goBytes(v), 'utf8');
    }
    if (!meta.macOnlyEncrypted || encrypted) hash.update(macBytes);
  }

  let storedMac;
  try {
    storedMac = decryptValue(meta.mac, dataKey, canonicalLastModified(meta.lastModified));
  } catch (e) {
    if (e instanceof SecretsError) throw e;
    throw new SecretsError('the MAC cannot be decrypted: sops.mac or sops.lastmodified was altered', 'the file was altered or is damaged; restore it from a backup');
  }
  const computed = Buffer.from(hash.digest('hex').toUpperCase(), 'utf8');
  const stored = Buffer.from(typeof storedMac.value === 'string' ? storedMac.value : '', 'utf8');
  if (storedMac.type !== 'str' || stored.length !== computed.length || !timingSafeEqual(stored, computed)) {
    throw new SecretsError('MAC mismatch: the file was changed after it was encrypted (a value, a clear-text value or the order of entries)', 'the file was altered or is damaged; restore it from a backup');
  }

  decryptComments(walk, meta.selectorRule, dataKey);
  return doc;
}

function ancestors(path: readonly string[]): string[][] {
  const out: string[][] = [];
  for (let n = path.length; n >= 0; n--) out.push(path.slice(0, n));
  return out;
}

/**
 * Comments are encrypted but not covered by the MAC (as in sops). A line in the ENC format that
 * does not decrypt is an error; clear-text lines (added by hand, or by older sops) stay as they are.
 * YAML parsers attach trailing comments to different levels, so enclosing paths are tried too.
 */
function decryptComments(walk: WalkResult, sel: Selector, dataKey: Uint8Array): void {
  for (const site of walk.comments) {
    if (!shouldEncrypt(site.path, sel)) continue;
    const lines = (site.holder[site.prop] ?? '').split('\n');
    const out = lines.map((line) => {
      if (!isEncryptedValue(line)) return line;
      for (const p of ancestors(site.path)) {
        try {
          const d = decryptValue(line, dataKey, additionalData(p));
          if (d.type === 'comment' && typeof d.value === 'string') return d.value;
        } catch {
          // try the next enclosing path
        }
      }
      throw new SecretsError(`an encrypted comment near ${site.where} cannot be decrypted`, 'the file was altered or is damaged; restore it from a backup');
    });
    site.holder[site.prop] = out.join('\n');
  }
}

/**
 * Decrypts a SOPS YAML document and returns the plain tree (the `sops` block removed). Ints and
 * floats come back as numbers (ints beyond 2^53 as bigint), booleans as booleans.
 */
export async function decryptSopsDocument(text: string, identities: string[]): Promise<unknown> {
  const doc = await decryptToDocument(text, identities);
  return doc.toJS({ maxAliasCount: 0 }) as unknown;
}

/** Like `decryptSopsDocument`, but returns YAML text that keeps key order and decrypted comments. */
export async function decryptSopsYaml(text: string, identities: string[]): Promise<string> {
  const doc = await decryptToDocument(text, identities);
  return doc.toString(STRINGIFY);
}

function selectorFromOptions(opts: SopsEncryptOptions): Selector {
  const given: Selector[] = [];
  if (opts.unencryptedSuffix) given.push({ kind: 'unencrypted_suffix', value: opts.unencryptedSuffix });
  if (opts.encryptedSuffix) given.push({ kind: 'encrypted_suffix', value: opts.encryptedSuffix });
  if (opts.unencryptedRegex) given.push({ kind: 'unencrypted_regex', value: opts.unencryptedRegex });
  if (opts.encryptedRegex) given.push({ kind: 'encrypted_regex', value: opts.encryptedRegex });
  if (given.length > 1) {
    throw new InvalidInputError(`only one of unencryptedSuffix, encryptedSuffix, unencryptedRegex, encryptedRegex may be set (got ${given.map((g) => g.kind).join(', ')})`);
  }
  const sel = given[0] ?? { kind: 'unencrypted_suffix', value: DEFAULT_UNENCRYPTED_SUFFIX };
  if (sel.kind.endsWith('_regex')) sel.regex = compileGoRegex(sel.value, inputFail);
  return sel;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The value and type sops would store. `numbersMayBeInts`: a JS tree has no int/float
 * distinction, so whole safe numbers count as ints; parsed YAML marks ints as bigint.
 */
function typedLeaf(node: Scalar, where: string, numbersMayBeInts: boolean): { value: SopsScalar; type: 'str' | 'int' | 'float' | 'bool' } {
  let value = node.value as SopsScalar;
  const isInt = typeof value === 'bigint' || (typeof value === 'number' && numbersMayBeInts && Number.isSafeInteger(value));
  if (isInt) {
    const big = BigInt(value as number | bigint);
    if (big < INT64_MIN || big > INT64_MAX) throw new InvalidInputError(`${where}: the integer does not fit in 64 bits`, 'quote it to store it as a string');
    value = big;
  }
  return { value, type: sopsTypeOf(value, isInt) };
}

async function encryptDocument(doc: Document, opts: SopsEncryptOptions, numbersMayBeInts: boolean): Promise<string> {
  const sel = selectorFromOptions(opts);
  const lastModified = formatLastModified(opts.now);
  const walk = walkDocument(doc, inputFail);
  if (walk.root.items.some((p) => isScalar(p.key) && p.key.value === 'sops')) {
    throw new InvalidInputError('the document already has a top-level "sops" key (is it already encrypted?)', 'decrypt it first, or rename that key');
  }
  const recipients = [...new Set(opts.recipients)];
  const dataKey = new Uint8Array(randomBytes(DATA_KEY_BYTES));
  const ageEntries = await wrapDataKey(dataKey, recipients);

  const hash = createHash('sha512');
  if (opts.macOnlyEncrypted) hash.update(MAC_ONLY_ENCRYPTED_INIT);
  for (const leaf of walk.leaves) {
    const { value, type } = typedLeaf(leaf.node, leaf.where, numbersMayBeInts);
    const encrypted = shouldEncrypt(leaf.path, sel);
    if (!opts.macOnlyEncrypted || encrypted) hash.update(goBytes(value), 'utf8');
    if (encrypted) {
      leaf.node.value = encryptValue(value, type, dataKey, additionalData(leaf.path));
      leaf.node.type = Scalar.PLAIN;
      leaf.node.format = undefined;
      leaf.node.minFractionDigits = undefined;
    }
  }
  for (const site of walk.comments) {
    if (!shouldEncrypt(site.path, sel)) continue;
    const lines = (site.holder[site.prop] ?? '').split('\n');
    site.holder[site.prop] = lines
      .map((line) => (line.trim() === '' ? line : encryptValue(line, 'comment', dataKey, additionalData(site.path))))
      .join('\n');
  }
  const mac = encryptValue(hash.digest('hex').toUpperCase(), 'str', dataKey, lastModified);

  // sops sorts the metadata keys by name; inside an age entry, recipient comes first.
  const meta: Record<string, unknown> = {
    age: ageEntries.map((e) => ({ recipient: e.recipient, enc: e.enc })),
    lastmodified: lastModified,
    mac,
    version: SOPS_FORMAT_VERSION,
  };
  if (opts.macOnlyEncrypted) meta.mac_only_encrypted = true;
  meta[sel.kind] = sel.value;
  const sorted = Object.fromEntries(Object.keys(meta).sort().map((k) => [k, meta[k]]));
  const metaNode = doc.createNode(sorted) as YAMLMap;
  for (const pair of metaNode.items) {
    if (!isScalar(pair.key) || !isScalar(pair.value)) continue;
    // Quoted like sops, so YAML 1.1 readers do not turn it into a timestamp.
    if (pair.key.value === 'lastmodified') pair.value.type = Scalar.QUOTE_DOUBLE;
    if (pair.key.value === 'mac') pair.value.type = Scalar.PLAIN;
  }
  walk.root.add(doc.createPair('sops', metaNode));
  return doc.toString(STRINGIFY);
}

function checkPlainTree(value: unknown, where: string, seen: Set<object>): void {
  if (value === null) return;
  const t = typeof value;
  if (t === 'string' || t === 'boolean' || t === 'bigint' || t === 'number') return;
  if (t !== 'object') throw new InvalidInputError(`${where}: unsupported value type ${t}`);
  const obj = value as object;
  if (seen.has(obj)) throw new InvalidInputError(`${where}: the tree contains a cycle`);
  seen.add(obj);
  if (Array.isArray(obj)) {
    obj.forEach((v, i) => checkPlainTree(v, `${where}[${i}]`, seen));
  } else {
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) throw new InvalidInputError(`${where}: only plain objects, arrays and scalars can be encrypted`);
    for (const [k, v] of Object.entries(obj)) checkPlainTree(v, where === '' ? k : `${where}.${k}`, seen);
  }
  seen.delete(obj);
}

/**
 * Encrypts a plain JS tree (a top-level object) into a SOPS YAML document for the recipients.
 * Key order is kept; whole numbers are stored as `int`, other numbers as `float`.
 */
export async function encryptSopsDocument(tree: unknown, opts: SopsEncryptOptions): Promise<string> {
  if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) {
    throw new InvalidInputError('the top level of a SOPS document must be an object of keys');
  }
  checkPlainTree(tree, '', new Set());
  return encryptDocument(new Document(tree), opts, true);
}

/** Encrypts plain YAML text, keeping key order and encrypting comments as sops does. */
export async function encryptSopsYaml(text: string, opts: SopsEncryptOptions): Promise<string> {
  return encryptDocument(parseSingleDocument(text, inputFail), opts, false);
}
