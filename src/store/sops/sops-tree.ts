/**
 * Walks a YAML document the way sops walks its tree: leaves in document order with their key
 * path (list indices are not path components), comments with the path of the map or list that
 * holds them. The same walk serves encryption and decryption so both agree on paths and order.
 */
import { Document, isAlias, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import type { Scalar, YAMLMap, YAMLSeq } from 'yaml';

/** A non-null scalar leaf. `path` feeds the AAD and the selectors; `where` is for messages. */
export interface LeafSite {
  node: Scalar;
  path: string[];
  where: string;
}

/** A node property holding one or more comment lines (text after `#`, one per line). */
export interface CommentSite {
  holder: { commentBefore?: string | null; comment?: string | null };
  prop: 'commentBefore' | 'comment';
  path: string[];
  where: string;
}

export interface WalkResult {
  root: YAMLMap;
  leaves: LeafSite[];
  comments: CommentSite[];
}

type Fail = (message: string) => Error;

function display(path: readonly string[]): string {
  return path.length === 0 ? 'the top level' : path.join('.');
}

/**
 * Parses one YAML document (more than one, or any syntax error, fails). Error messages carry
 * the position only: the yaml library quotes source text, which may be a secret.
 */
export function parseSingleDocument(text: string, fail: Fail): Document {
  // YAML 1.2 core like go-yaml v3 (`yes` is a string, no `<<` merges); bigints keep ints exact.
  const docs = parseAllDocuments(text, { version: '1.2', schema: 'core', merge: false, intAsBigInt: true, uniqueKeys: true, prettyErrors: false });
  if (docs.length > 1) throw fail('the YAML has several documents; only one is supported');
  const doc = docs[0];
  if (!doc) return new Document({});
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    throw fail(`the YAML cannot be parsed (${err.code}${pos ? ` at line ${pos.line}, column ${pos.col}` : ''})`);
  }
  return doc;
}

/**
 * Collects leaves and comment sites and switches every collection to block style (sops never
 * writes flow style, and long ENC values in `[…]` would be unreadable).
 */
export function walkDocument(doc: Document, fail: Fail): WalkResult {
  const contents = doc.contents;
  if (contents !== null && !isMap(contents)) {
    throw fail('the top level of the YAML must be a map of keys');
  }
  const root = (contents ?? doc.createNode({})) as YAMLMap;
  doc.contents = root;
  const leaves: LeafSite[] = [];
  const comments: CommentSite[] = [];

  const addComments = (holder: CommentSite['holder'], path: string[], where: string): void => {
    for (const prop of ['commentBefore', 'comment'] as const) {
      if (typeof holder[prop] === 'string' && holder[prop] !== '') comments.push({ holder, prop, path, where });
    }
  };

  const visitValue = (node: unknown, path: string[], containerPath: string[], where: string): void => {
    if (node === null || node === undefined) return;
    if (isAlias(node)) throw fail(`${where}: YAML aliases (*name) are not supported; write the value out`);
    if (isScalar(node)) {
      addComments(node, containerPath, where);
      if (node.value === null || node.value === undefined) return;
      const t = typeof node.value;
      if (t !== 'string' && t !== 'number' && t !== 'bigint' && t !== 'boolean') {
        throw fail(`${where}: unsupported value type (only strings, numbers, booleans and null)`);
      }
      leaves.push({ node, path, where });
      return;
    }
    if (isMap(node) || isSeq(node)) {
      visitCollection(node as YAMLMap | YAMLSeq, path, where);
      return;
    }
    throw fail(`${where}: unsupported YAML node`);
  };

  const visitCollection = (node: YAMLMap | YAMLSeq, path: string[], where: string): void => {
    node.flow = false;
    addComments(node, path, where);
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = pair.key;
        if (!isScalar(key) || typeof key.value !== 'string') {
          throw fail(`a key in ${display(path)} is not a string; quote it`);
        }
        addComments(key, path, where);
        const childPath = [...path, key.value];
        visitValue(pair.value, childPath, path, childPath.join('.'));
      }
    } else {
      node.items.forEach((item, i) => visitValue(item, path, path, `${where}[${i}]`));
    }
  };

  addComments(doc, [], 'the top level');
  visitCollection(root, [], 'the top level');
  return { root, leaves, comments };
}
