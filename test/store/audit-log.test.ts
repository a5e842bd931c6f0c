import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GENESIS_HASH, hashAuditEvent, sealAuditEvent } from '../../src/core/audit/audit-chain.ts';
import { InvalidInputError } from '../../src/core/errors.ts';
import { AuditEventInput } from '../../src/core/model.ts';
import type { StateStore } from '../../src/core/ports/store.ts';
import { verifyAuditLog } from '../../src/store/audit-log.ts';
import { openTestStore, tempDir, type ManualClock } from './helpers.ts';

function event(n: number, overrides: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    actor_id: n % 2 ? 'slack:U1' : 'cli:bob',
    actor_name: n % 2 ? 'Alice Example' : 'bob',
    source: n % 2 ? 'slack' : 'cli',
    command: `deploy app${n % 3} ghcr.io/org/app:v${n}`,
    app: `app${n % 3}`,
    outcome: 'ok',
    ...overrides,
  };
}

/** Appends `n` events, one hour apart; the clock starts near the end of January. */
function fill(store: StateStore, clock: ManualClock, n: number): void {
  for (let i = 1; i <= n; i++) {
    store.appendAudit(event(i));
    clock.advance(3_600_000);
  }
}

function withLines(root: string, file: string, edit: (lines: string[]) => string[]): void {
  const path = join(root, 'audit', file);
  const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
  writeFileSync(path, `${edit(lines).join('\n')}\n`);
}

describe('appendAudit', () => {
  it('seals events into month files (UTC) with one chain across months', (t) => {
    const root = tempDir(t);
    const { store, clock } = openTestStore(t, root);
    clock.set('2026-01-31T22:30:00.000Z');
    const first = store.appendAudit(event(1, { channel: 'C1', ref: 'app1 v1' }));
    clock.set('2026-02-01T00:30:00.000Z');
    const second = store.appendAudit(event(2));
    assert.equal(first.seq, 1);
    assert.equal(first.prev, GENESIS_HASH);
    assert.equal(first.hash, hashAuditEvent(first));
    assert.equal(second.seq, 2);
    assert.equal(second.prev, first.hash);
    assert.deepEqual(readdirSync(join(root, 'audit')), ['2026-01.jsonl', '2026-02.jsonl']);
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'audit', '2026-01.jsonl'), 'utf8')), first);
    assert.equal(verifyAuditLog(root).ok, true);
    assert.throws(() => store.appendAudit({ ...event(3), outcome: 'maybe' as 'ok' }), InvalidInputError);
  });

  it('never lets time go backwards, so month files stay in chain order', (t) => {
    const root = tempDir(t);
    const { store, clock } = openTestStore(t, root);
    clock.set('2026-03-01T00:00:10.000Z');
    store.appendAudit(event(1));
    clock.set('2026-02-28T23:59:00.000Z'); // the clock stepped back
    const e = store.appendAudit(event(2));
    assert.equal(e.time, '2026-03-01T00:00:10.000Z');
    assert.deepEqual(readdirSync(join(root, 'audit')), ['2026-03.jsonl']);
  });
});

describe('queryAudit', () => {
  it('filters by app, user (id or name, any case) and since; newest first; limit', (t) => {
    const root = tempDir(t);
    const { store, clock } = openTestStore(t, root);
    clock.set('2026-01-01T00:00:00.000Z');
    fill(store, clock, 12);
    const seqs = (q: Parameters<StateStore['queryAudit']>[0]) => store.queryAudit(q).map((e) => e.seq);
    assert.deepEqual(seqs({}), [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert.deepEqual(seqs({ limit: 3 }), [12, 11, 10]);
    assert.deepEqual(seqs({ app: 'app0' }), [12, 9, 6, 3]);
    assert.deepEqual(seqs({ user: 'cli:bob', limit: 2 }), [12, 10]);
    assert.deepEqual(seqs({ user: 'ALICE example' }), [11, 9, 7, 5, 3, 1]);
    assert.deepEqual(seqs({ since: '2026-01-01T09:00:00Z' }), [12, 11, 10]);
    assert.deepEqual(seqs({ since: '2026-01-01T10:00:00+01:00', app: 'app1' }), [10]);
    assert.throws(() => store.queryAudit({ since: 'yesterday' }), InvalidInputError);
  });
});

describe('verifyAuditLog', () => {
  const setup = (t: Parameters<typeof tempDir>[0]) => {
    const root = tempDir(t);
    const { store, clock } = openTestStore(t, root);
    clock.set('2026-01-31T20:00:00.000Z');
    fill(store, clock, 8); // 4 in January, 4 in February
    store.close();
    const r = verifyAuditLog(root);
    assert.equal(r.ok && r.count, 8);
    assert.deepEqual(readdirSync(join(root, 'audit')), ['2026-01.jsonl', '2026-02.jsonl']);
    return root;
  };

  it('catches an edited line', (t) => {
    const root = setup(t);
    withLines(root, '2026-02.jsonl', (l) => l.map((x, i) => (i === 1 ? x.replace('"outcome":"ok"', '"outcome":"failed"') : x)));
    const r = verifyAuditLog(root);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.detail.kind, r.detail.file, r.detail.line, r.count], ['edited', '2026-02.jsonl', 2, 5]);
  });

  it('catches a deleted line, also across a month boundary', (t) => {
    const root = setup(t);
    withLines(root, '2026-02.jsonl', (l) => l.slice(1));
    const r = verifyAuditLog(root);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.detail.kind, r.detail.file, r.detail.line], ['deleted', '2026-02.jsonl', 1]);
  });

  it('catches an inserted line', (t) => {
    const root = setup(t);
    withLines(root, '2026-01.jsonl', (l) => [l[0] as string, (l[1] as string).replace('"seq":2', '"seq":3'), ...l.slice(1)]);
    const r = verifyAuditLog(root);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.detail.kind, r.detail.file, r.detail.line], ['inserted', '2026-01.jsonl', 2]);
  });

  it('catches reordered lines', (t) => {
    const root = setup(t);
    withLines(root, '2026-01.jsonl', (l) => [l[0] as string, l[2] as string, l[1] as string, ...l.slice(3)]);
    const r = verifyAuditLog(root);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual([r.detail.kind, r.detail.file, r.detail.line], ['reordered', '2026-01.jsonl', 2]);
  });

  it('catches events cut off the end by comparing with the index', (t) => {
    const root = setup(t);
    withLines(root, '2026-02.jsonl', (l) => l.slice(0, -2));
    const r = verifyAuditLog(root);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.detail.kind, 'deleted');
  });
});

describe('torn last line', () => {
  it('is truncated (with a warning) when the store opens, and the chain continues', (t) => {
    const root = tempDir(t);
    const first = openTestStore(t, root);
    first.clock.set('2026-01-10T00:00:00.000Z');
    fill(first.store, first.clock, 3);
    first.store.close();
    const path = join(root, 'audit', '2026-01.jsonl');
    const good = readFileSync(path, 'utf8');
    appendFileSync(path, '{"seq":4,"id":"half-writ');
    const v = verifyAuditLog(root);
    assert.equal(v.ok, true, 'verify ignores an incomplete last line');
    assert.match(v.warnings[0] ?? '', /2026-01\.jsonl line 4: incomplete last line/);

    const { store, clock, log } = openTestStore(t, root);
    clock.set('2026-01-10T05:00:00.000Z');
    assert.equal(readFileSync(path, 'utf8'), good);
    assert.ok(log.warnings().some((w) => /torn last audit line/.test(w)));
    const next = store.appendAudit(event(4));
    assert.equal(next.seq, 4);
    assert.deepEqual(verifyAuditLog(root), { ok: true, count: 4, lastSeq: 4, lastHash: next.hash, warnings: [] });
  });

  it('indexes complete lines that reached the file but not the index', (t) => {
    const root = tempDir(t);
    const a = openTestStore(t, root);
    a.clock.set('2026-01-10T00:00:00.000Z');
    fill(a.store, a.clock, 2);
    const [last] = a.store.queryAudit({ limit: 1 });
    a.store.close();
    assert.ok(last);
    // What a writer killed after the fsync and before the index commit leaves behind.
    const third = sealAuditEvent({ ...AuditEventInput.parse(event(3)), seq: 3, id: 'evt-3', time: '2026-01-10T03:00:00.000Z', prev: last.hash });
    appendFileSync(join(root, 'audit', '2026-01.jsonl'), `${JSON.stringify(third)}\n`);
    const { store, log } = openTestStore(t, root);
    assert.deepEqual(store.queryAudit({ limit: 1 }), [third]);
    assert.ok(log.warnings().some((w) => /indexed audit events appended by an interrupted write/.test(w)));
    assert.equal(store.appendAudit(event(4)).prev, third.hash);
  });
});
