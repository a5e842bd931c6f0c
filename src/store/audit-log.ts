/**
 * The audit trail on disk: `audit/<YYYY-MM>.jsonl`, one sealed event per line, hash-chained
 * across month files (rules in src/core/audit/audit-chain.ts). Lines are appended with a single
 * write() and fsynced before the index learns about them.
 *
 * Torn lines: a crash (or power cut) in the middle of an append can leave the last line of the
 * newest file without its newline. Such a line was never acknowledged to anyone and would break
 * the chain for the next append, so the store truncates it (logging a warning with the file and
 * the number of bytes dropped) when it opens or repairs. `verifyAuditLog`, which never writes,
 * ignores such a line and reports it as a warning.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  AUDIT_FILE_RE,
  hashAuditEvent,
  parseAuditLine,
  verifyAuditChain,
  GENESIS_HASH,
  type AuditLine,
  type AuditVerifyResult,
} from '../core/audit/audit-chain.ts';
import type { AuditEvent } from '../core/model.ts';
import type { Logger } from '../core/ports/clock.ts';
import type { StateProblem } from '../core/ports/store.ts';
import { appendFileDurable, unwritable } from './atomic-file.ts';
import { INDEX_FILE_NAME, type IndexDb } from './index-db.ts';
import { AUDIT_DIR } from './state-files.ts';

/** Month files, oldest first. */
export function listAuditFiles(root: string): string[] {
  try {
    return readdirSync(join(root, AUDIT_DIR))
      .filter((n) => AUDIT_FILE_RE.test(n))
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export interface AuditFileLines {
  lines: AuditLine[];
  /** Byte offset just after each line's newline, parallel to `lines`. */
  ends: number[];
  /** A final line without its newline: its line number and where the complete lines end. */
  torn: { line: number; validSize: number; size: number } | null;
}

/** Splits one month file into complete lines (1-based line numbers); skips empty lines. */
export function readAuditFile(root: string, file: string): AuditFileLines {
  const buf = readFileSync(join(root, AUDIT_DIR, file));
  const lines: AuditLine[] = [];
  const ends: number[] = [];
  let start = 0;
  let lineNo = 0;
  for (;;) {
    const nl = buf.indexOf(10, start);
    if (nl === -1) break;
    lineNo += 1;
    if (nl > start) {
      lines.push({ file, line: lineNo, text: buf.toString('utf8', start, nl) });
      ends.push(nl + 1);
    }
    start = nl + 1;
  }
  const torn = start < buf.length ? { line: lineNo + 1, validSize: start, size: buf.length } : null;
  return { lines, ends, torn };
}

/** Truncates a torn final line of the newest month file; returns what was dropped. */
export function truncateTornTail(root: string, log: Logger): { file: string; bytes: number } | null {
  const files = listAuditFiles(root);
  const last = files[files.length - 1];
  if (!last) return null;
  const path = join(root, AUDIT_DIR, last);
  const { torn } = readAuditFile(root, last);
  if (!torn) return null;
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (e) {
    throw unwritable(e, 'repair', path);
  }
  try {
    ftruncateSync(fd, torn.validSize);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  log.warn({ file: path, line: torn.line, bytes: torn.size - torn.validSize }, 'dropped a torn last audit line left by an interrupted append');
  return { file: last, bytes: torn.size - torn.validSize };
}

/** Appends one sealed event to its month file; returns the file and its size after the line. */
export function appendAuditLine(root: string, file: string, event: AuditEvent): { file: string; size: number } {
  const line = `${JSON.stringify(event)}\n`;
  const before = appendFileDurable(join(root, AUDIT_DIR, file), line);
  return { file, size: before + Buffer.byteLength(line, 'utf8') };
}

export interface ChainCursor {
  seq: number;
  hash: string;
  /** Set once a break was reported, so one tampering is reported once. */
  broken: boolean;
}

/**
 * Indexes parsed lines, checking the chain as it goes. Bad lines are skipped and reported; the
 * first chain break is reported once (the details are `pvdifyd audit verify`'s job).
 */
export function indexAuditLines(
  ix: IndexDb,
  root: string,
  lines: Iterable<AuditLine>,
  cursor: ChainCursor,
  onProblem: (p: StateProblem) => void,
): number {
  let added = 0;
  for (const l of lines) {
    const where = `${join(root, AUDIT_DIR, l.file)}:${l.line}`;
    const parsed = parseAuditLine(l.text);
    if (!parsed.ok) {
      onProblem({ path: where, message: `unreadable audit event: ${parsed.message}` });
      continue;
    }
    const e = parsed.event;
    if (!cursor.broken && (e.seq !== cursor.seq + 1 || e.prev !== cursor.hash || hashAuditEvent(e) !== e.hash)) {
      cursor.broken = true;
      onProblem({ path: where, message: 'audit hash chain is broken here; run `pvdifyd audit verify` for details' });
    }
    if (ix.insertAudit(e, l.file)) added += 1;
    else onProblem({ path: where, message: `audit seq ${e.seq} appears more than once; the first one is indexed` });
    cursor.seq = e.seq;
    cursor.hash = e.hash;
  }
  return added;
}

/** Re-reads every month file into the (already emptied) audit_events table. */
export function indexAllAudit(ix: IndexDb, root: string, onProblem: (p: StateProblem) => void): number {
  const cursor: ChainCursor = { seq: 0, hash: GENESIS_HASH, broken: false };
  let count = 0;
  let tail: { file: string; size: number } | null = null;
  for (const file of listAuditFiles(root)) {
    const { lines, torn } = readAuditFile(root, file);
    count += indexAuditLines(ix, root, lines, cursor, onProblem);
    tail = { file, size: torn ? torn.validSize : statSync(join(root, AUDIT_DIR, file)).size };
  }
  ix.setAuditTail(tail);
  return count;
}

function fileSize(root: string, file: string): number | null {
  try {
    return statSync(join(root, AUDIT_DIR, file)).size;
  } catch {
    return null;
  }
}

/** True when the index has seen exactly the bytes now in the audit files (cheap: one stat). */
export function auditInSync(ix: IndexDb, root: string): boolean {
  const files = listAuditFiles(root);
  const last = files[files.length - 1];
  const tail = ix.auditTail();
  if (!last) return tail === null && ix.lastAudit() === null;
  return tail !== null && tail.file === last && fileSize(root, last) === tail.size;
}

/**
 * Brings audit_events up to date with the files after an interrupted append or a restore:
 * indexes lines appended since the recorded tail, or re-reads everything when the files no
 * longer extend what was indexed. Call inside an index transaction.
 */
export function syncAuditIndex(ix: IndexDb, root: string, log: Logger, opts: { truncateTorn: boolean }): { added: number; full: boolean } {
  if (opts.truncateTorn) truncateTornTail(root, log);
  if (auditInSync(ix, root)) return { added: 0, full: false };
  const files = listAuditFiles(root);
  const tail = ix.auditTail();
  const last = ix.lastAudit();
  const report = (p: StateProblem) => {
    ix.setProblem(p.path, p.message);
    log.warn(p, 'audit line not indexed');
  };
  const tailSize = tail ? fileSize(root, tail.file) : null;
  if (tail && last && tail.file === last.file && tailSize !== null && tailSize >= tail.size) {
    // Incremental: the files still hold what was indexed and only grew after it.
    const fresh: AuditLine[] = [];
    let newTail = tail;
    for (const file of files.filter((f) => f >= tail.file)) {
      const { lines, ends, torn } = readAuditFile(root, file);
      fresh.push(...(file === tail.file ? lines.filter((_, i) => (ends[i] ?? 0) > tail.size) : lines));
      newTail = { file, size: torn ? torn.validSize : (fileSize(root, file) ?? 0) };
    }
    let seq = last.seq;
    let hash = last.hash;
    const continues = fresh.every((l) => {
      const p = parseAuditLine(l.text);
      if (!p.ok || p.event.seq !== seq + 1 || p.event.prev !== hash) return false;
      seq = p.event.seq;
      hash = p.event.hash;
      return true;
    });
    if (continues) {
      const added = indexAuditLines(ix, root, fresh, { seq: last.seq, hash: last.hash, broken: false }, report);
      ix.setAuditTail(newTail);
      if (added > 0) log.warn({ added }, 'indexed audit events appended by an interrupted write');
      return { added, full: false };
    }
  }
  log.warn({ indexedSeq: last?.seq ?? 0 }, 'audit files no longer match the index; re-reading every month file');
  ix.deleteAuditFrom(0);
  ix.clearProblemsUnder(`${join(root, AUDIT_DIR)}/`);
  const added = indexAllAudit(ix, root, report);
  const now = ix.lastAudit();
  if (last && (now?.seq ?? 0) < last.seq) {
    // Either an older backup was restored or events were removed: say so loudly, once.
    log.error(
      { indexedSeq: last.seq, filesSeq: now?.seq ?? 0 },
      'the audit log on disk ends before the last event this index had recorded: events were removed, or an older backup was restored',
    );
  }
  return { added, full: true };
}

/** Every complete line of every month file, in order, plus a note about a torn final line. */
export function readAllAuditLines(root: string): { lines: Generator<AuditLine>; warnings: string[] } {
  const warnings: string[] = [];
  const files = listAuditFiles(root);
  function* gen(): Generator<AuditLine> {
    for (const [i, file] of files.entries()) {
      const { lines, torn } = readAuditFile(root, file);
      yield* lines;
      if (torn && i === files.length - 1) {
        warnings.push(`${file} line ${torn.line}: incomplete last line (an interrupted append); the store drops it when it next opens`);
      } else if (torn) {
        yield { file, line: torn.line, text: readFileSync(join(root, AUDIT_DIR, file)).toString('utf8', torn.validSize) };
      }
    }
  }
  return { lines: gen(), warnings };
}

/**
 * `pvdifyd audit verify`: checks the whole chain from the files alone (never writes). When the
 * index exists, its newest event is compared too, which catches events cut off the end.
 */
export function verifyAuditLog(root: string): AuditVerifyResult & { warnings: string[] } {
  let expectLast: { seq: number; hash: string } | null = null;
  const dbPath = join(root, INDEX_FILE_NAME);
  if (existsSync(dbPath)) {
    try {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      try {
        expectLast = (db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined) ?? null;
      } finally {
        db.close();
      }
    } catch {
      // No usable index: the chain alone is checked.
    }
  }
  const { lines, warnings } = readAllAuditLines(root);
  const result = verifyAuditChain(lines, { expectLast });
  return { ...result, warnings };
}
