/**
 * The audit trail's hash chain, as pure functions: sealing an event and verifying a sequence of
 * lines. The store (src/store/audit-log.ts) does the file I/O; this module decides what "intact"
 * means so the rule lives in one place and is testable on plain strings.
 *
 * Each event carries `seq` (1, 2, 3, …), `prev` (the previous event's `hash`, 64 zeros for the
 * first) and `hash` = sha256 hex of `prev` followed by the canonical JSON of every field except
 * `hash`. Editing, deleting, inserting or reordering a line therefore breaks either the line's
 * own hash or the link to its neighbour, and `verifyAuditChain` names the first such line.
 */
import { createHash } from 'node:crypto';
import { AuditEvent, describeZodError } from '../model.ts';

/** `prev` of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** Month files: `audit/<YYYY-MM>.jsonl`. */
export const AUDIT_FILE_RE = /^\d{4}-(0[1-9]|1[0-2])\.jsonl$/;

/** An event before its hash is computed. */
export type UnsealedAuditEvent = Omit<AuditEvent, 'hash'>;

/**
 * JSON with object keys sorted at every level and no whitespace, so the same event always
 * hashes the same however its line was serialised.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** sha256 hex over `prev` + canonical JSON of the event without `hash`. */
export function hashAuditEvent(event: UnsealedAuditEvent | AuditEvent): string {
  const { hash: _ignored, ...fields } = event as AuditEvent;
  return createHash('sha256').update(fields.prev).update(canonicalJson(fields)).digest('hex');
}

/** Adds the hash. */
export function sealAuditEvent(fields: UnsealedAuditEvent): AuditEvent {
  return orderAuditEvent({ ...fields, hash: hashAuditEvent(fields) });
}

/** The event with its keys in the order lines are written in (seq, id, time first; prev, hash last). */
export function orderAuditEvent(fields: AuditEvent): AuditEvent {
  return {
    seq: fields.seq,
    id: fields.id,
    time: fields.time,
    actor_id: fields.actor_id,
    actor_name: fields.actor_name,
    source: fields.source,
    channel: fields.channel,
    command: fields.command,
    app: fields.app,
    outcome: fields.outcome,
    ref: fields.ref,
    detail: fields.detail,
    prev: fields.prev,
    hash: fields.hash,
  };
}

/** The month file an event belongs to (UTC). */
export function auditFileForTime(time: string | Date): string {
  const d = typeof time === 'string' ? new Date(time) : time;
  if (Number.isNaN(d.getTime())) throw new RangeError('invalid audit event time');
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}.jsonl`;
}

/** One line of a month file, with where it came from (line numbers start at 1). */
export interface AuditLine {
  file: string;
  line: number;
  text: string;
}

export type ParsedAuditLine = { ok: true; event: AuditEvent } | { ok: false; message: string };

/** JSON + schema check of one line; never throws. */
export function parseAuditLine(text: string): ParsedAuditLine {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, message: 'not valid JSON' };
  }
  const parsed = AuditEvent.safeParse(raw);
  if (!parsed.success) return { ok: false, message: describeZodError(parsed.error) };
  return { ok: true, event: orderAuditEvent(parsed.data) };
}

/** What was wrong with the first bad line. */
export type AuditProblemKind = 'malformed' | 'edited' | 'deleted' | 'inserted' | 'reordered';

export interface AuditChainProblem {
  kind: AuditProblemKind;
  file: string;
  line: number;
  /** The seq the bad line claims, when it could be read. */
  seq: number | null;
  message: string;
}

export type AuditVerifyResult =
  | { ok: true; count: number; lastSeq: number; lastHash: string }
  | {
      ok: false;
      /** Events that verified before the first bad one. */
      count: number;
      /** One line for humans: `2026-03.jsonl line 17: … (edited)`. */
      problem: string;
      detail: AuditChainProblem;
    };

interface Checked {
  entry: AuditLine;
  parsed: ParsedAuditLine;
  /** Recomputed hash, when the line parsed. */
  computed: string | null;
}

function check(entry: AuditLine): Checked {
  const parsed = parseAuditLine(entry.text);
  return { entry, parsed, computed: parsed.ok ? hashAuditEvent(parsed.event) : null };
}

function failure(count: number, kind: AuditProblemKind, at: AuditLine, seq: number | null, message: string): AuditVerifyResult {
  const detail: AuditChainProblem = { kind, file: at.file, line: at.line, seq, message };
  return { ok: false, count, problem: `${at.file} line ${at.line}: ${message} (${kind})`, detail };
}

/**
 * Walks the lines in order (month files oldest first) and returns the first bad event, or ok
 * with the number of events. `expectLast`, when given (the index's newest event), also catches
 * events cut off the end of the log, which the chain alone cannot see.
 */
export function verifyAuditChain(lines: Iterable<AuditLine>, opts: { expectLast?: { seq: number; hash: string } | null } = {}): AuditVerifyResult {
  const it = lines[Symbol.iterator]();
  const pull = (): Checked | null => {
    const r = it.next();
    return r.done ? null : check(r.value);
  };
  let count = 0;
  let lastHash = GENESIS_HASH;
  let last: Checked | null = null;
  let beforeLast: Checked | null = null;
  let current = pull();
  while (current) {
    const next = pull();
    const { entry, parsed, computed } = current;
    if (!parsed.ok) return failure(count, 'malformed', entry, null, `unreadable event: ${parsed.message}`);
    const e = parsed.event;
    const expected = count + 1;
    const selfOk = computed === e.hash;
    if (selfOk && e.seq === expected && e.prev === lastHash) {
      count += 1;
      lastHash = e.hash;
      beforeLast = last;
      last = current;
      current = next;
      continue;
    }
    const nextEvent = next?.parsed.ok ? next.parsed.event : null;
    const nextFitsAfterLast = nextEvent !== null && nextEvent.seq === expected && nextEvent.prev === lastHash;
    if (!selfOk) {
      if (nextFitsAfterLast) return failure(count, 'inserted', entry, e.seq, `line does not belong to the chain: the next line continues from seq ${expected - 1}`);
      return failure(count, 'edited', entry, e.seq, `event seq ${e.seq} does not match its hash: its content was changed`);
    }
    if (e.seq > expected) {
      // Self-consistent but early: either the missing seqs come later (reordered), this line is a
      // copy of a later one (inserted), or they are gone (deleted).
      const rest: Array<{ seq: number; hash: string }> = [];
      for (let c: Checked | null = next; c; c = pull()) if (c.parsed.ok) rest.push({ seq: c.parsed.event.seq, hash: c.parsed.event.hash });
      if (rest.some((r) => r.hash === e.hash)) return failure(count, 'inserted', entry, e.seq, `event seq ${e.seq} appears twice`);
      if (rest.some((r) => r.seq === expected)) return failure(count, 'reordered', entry, e.seq, `event seq ${e.seq} comes before seq ${expected}`);
      const missing = e.seq - 1 === expected ? `seq ${expected} is` : `seq ${expected}..${e.seq - 1} are`;
      return failure(count, 'deleted', entry, e.seq, `event ${missing} missing before this line`);
    }
    if (e.seq === expected) {
      if (nextFitsAfterLast) return failure(count, 'inserted', entry, e.seq, `line does not belong to the chain: the next line continues from seq ${expected - 1}`);
      if (last?.parsed.ok) {
        return failure(
          count - 1,
          'edited',
          last.entry,
          last.parsed.event.seq,
          `event seq ${last.parsed.event.seq} was rewritten: seq ${e.seq} (line ${entry.line} of ${entry.file}) recorded a different hash for it`,
        );
      }
      return failure(count, 'deleted', entry, e.seq, 'events before this line are missing (its prev hash is not the start of the chain)');
    }
    // e.seq < expected: a seq that was already used.
    if (last?.parsed.ok && last.parsed.event.seq === e.seq && e.prev === (beforeLast?.parsed.ok ? beforeLast.parsed.event.hash : GENESIS_HASH)) {
      // The previous line took this event's place in the chain: it is the one that was added.
      return failure(count - 1, 'inserted', last.entry, e.seq, `line does not belong to the chain: seq ${e.seq} on the next line links past it`);
    }
    return failure(count, 'inserted', entry, e.seq, `event seq ${e.seq} was already used earlier in the log`);
  }
  const expectLast = opts.expectLast;
  if (expectLast && expectLast.seq > count) {
    const at: AuditLine = last ? { ...last.entry, line: last.entry.line + 1 } : { file: '(audit log)', line: 1, text: '' };
    return failure(count, 'deleted', at, expectLast.seq, `the log ends at seq ${count} but seq ${expectLast.seq} was recorded: events were cut off the end`);
  }
  if (expectLast && expectLast.seq === count && count > 0 && expectLast.hash !== lastHash && last) {
    return failure(count - 1, 'edited', last.entry, count, `event seq ${count} differs from the one recorded in the index`);
  }
  return { ok: true, count, lastSeq: count, lastHash };
}
