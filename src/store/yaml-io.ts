/**
 * Reading and writing state YAML without trusting it. State files may be edited by hand or
 * restored from elsewhere, so the parser refuses anything our writer never produces and that
 * could hurt the reader: tags (`!!js/function`, `!foo`), more than a few aliases (the "billion
 * laughs" anchor bomb), duplicate keys, several documents, files over 1 MiB. A refusal is a
 * `YamlRefusedError` with a one-line reason and never echoes file content.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { describeZodError } from '../core/model.ts';

export const MAX_STATE_FILE_BYTES = 1024 * 1024;
/** Aliases are never written by pvdify; a few are tolerated in hand-edited files. */
export const MAX_YAML_ALIASES = 20;

/** The YAML text was refused; `message` says why, in one line. */
export class YamlRefusedError extends Error {}

const PARSE_OPTIONS: YAML.ParseOptions & YAML.DocumentOptions & YAML.SchemaOptions = {
  version: '1.2',
  schema: 'core',
  customTags: [],
  uniqueKeys: true,
  merge: false,
  strict: true,
  prettyErrors: false,
};

/** `line L, column C: ` for an offset (computed only when something is refused). */
function where(text: string, pos: readonly [number, number] | undefined): string {
  if (!pos) return '';
  const before = text.slice(0, pos[0]);
  const line = before.split('\n').length;
  return `line ${line}, column ${pos[0] - before.lastIndexOf('\n')}: `;
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.trim() ?? message;
}

/** Parses one YAML document to plain data, refusing tags, alias bombs and duplicate keys. */
export function parseYamlSafe(text: string): unknown {
  if (Buffer.byteLength(text, 'utf8') > MAX_STATE_FILE_BYTES) {
    throw new YamlRefusedError(`larger than ${MAX_STATE_FILE_BYTES} bytes`);
  }
  let doc: YAML.Document.Parsed;
  try {
    doc = YAML.parseDocument(text, PARSE_OPTIONS);
  } catch (e) {
    throw new YamlRefusedError(`cannot parse YAML: ${firstLine((e as Error).message)}`);
  }
  const err = doc.errors[0];
  if (err) throw new YamlRefusedError(`${where(text, err.pos)}${firstLine(err.message)}`);
  // Unresolved tags only produce warnings in the yaml package: treat every warning as fatal.
  const warn = doc.warnings[0];
  if (warn) throw new YamlRefusedError(`${where(text, warn.pos)}${firstLine(warn.message)}`);
  // Every tag needs a `!` in the source, so the walk is skipped for the usual tag-free file.
  if (text.includes('!')) {
    let tagged: string | null = null;
    YAML.visit(doc, (_key, node) => {
      if (YAML.isNode(node) && node.tag) {
        tagged = node.tag;
        return YAML.visit.BREAK;
      }
      return undefined;
    });
    if (tagged !== null) throw new YamlRefusedError(`YAML tags are not allowed in state files (found ${JSON.stringify(String(tagged).slice(0, 60))})`);
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    throw new YamlRefusedError(`cannot load YAML: ${firstLine((e as Error).message)}`);
  }
}

/** Block-style YAML with no anchors and no line folding, as every state file is written. */
export function stringifyYaml(value: unknown): string {
  return YAML.stringify(value, { version: '1.2', lineWidth: 0, aliasDuplicateObjects: false });
}

export type ReadTextResult = { ok: true; text: string } | { ok: false; missing: boolean; message: string };

/** Reads a state file as UTF-8, refusing files over the size cap before reading them. */
export function readStateFileText(path: string): ReadTextResult {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOTDIR: a path component is a file, so this file cannot exist either.
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, missing: true, message: 'file does not exist' };
    return { ok: false, missing: false, message: `cannot read: ${code ?? 'error'}` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, missing: false, message: 'not a regular file' };
    if (st.size > MAX_STATE_FILE_BYTES) {
      return { ok: false, missing: false, message: `file is ${st.size} bytes; state files are at most ${MAX_STATE_FILE_BYTES} bytes` };
    }
    const buf = Buffer.allocUnsafe(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, buf, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return { ok: true, text: buf.toString('utf8', 0, off) };
  } catch (e) {
    return { ok: false, missing: false, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? 'error'}` };
  } finally {
    closeSync(fd);
  }
}

export type ValidateResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** Safe parse + zod schema; the message names the failing field path. */
export function parseYamlWith<T>(text: string, schema: z.ZodType<T>): ValidateResult<T> {
  let raw: unknown;
  try {
    raw = parseYamlSafe(text);
  } catch (e) {
    if (e instanceof YamlRefusedError) return { ok: false, message: e.message };
    throw e;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { ok: false, message: describeZodError(parsed.error) };
  return { ok: true, value: parsed.data };
}
