import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  auditFileForTime,
  canonicalJson,
  GENESIS_HASH,
  hashAuditEvent,
  sealAuditEvent,
  verifyAuditChain,
  type AuditLine,
} from '../../../src/core/audit/audit-chain.ts';
import type { AuditEvent } from '../../../src/core/model.ts';

function chain(n: number): AuditEvent[] {
  const out: AuditEvent[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const e = sealAuditEvent({
      seq,
      id: `evt-${seq}`,
      time: new Date(Date.UTC(2026, 0, 1, 0, seq)).toISOString(),
      actor_id: 'slack:U1',
      actor_name: 'Alice',
      source: 'slack',
      channel: 'C1',
      command: `deploy myapp ghcr.io/org/app:v${seq}`,
      app: 'myapp',
      outcome: 'ok',
      ref: `myapp v${seq}`,
      detail: null,
      prev,
    });
    out.push(e);
    prev = e.hash;
  }
  return out;
}

function lines(events: Array<AuditEvent | string>, file = '2026-01.jsonl'): AuditLine[] {
  return events.map((e, i) => ({ file, line: i + 1, text: typeof e === 'string' ? e : JSON.stringify(e) }));
}

function bad(result: ReturnType<typeof verifyAuditChain>) {
  assert.equal(result.ok, false, 'expected the chain to be reported broken');
  if (result.ok) throw new Error('unreachable');
  return result;
}

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: null }], c: undefined } }), '{"a":{"d":[1,{"y":null,"z":1}]},"b":1}');
  });
});

describe('hash chain', () => {
  it('hashes prev + canonical fields, independent of key order', () => {
    const [e] = chain(1);
    assert.ok(e);
    assert.equal(e.prev, GENESIS_HASH);
    assert.match(e.hash, /^[a-f0-9]{64}$/);
    const shuffled = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(e).reverse()))) as AuditEvent;
    assert.equal(hashAuditEvent(shuffled), e.hash);
    assert.notEqual(hashAuditEvent({ ...e, detail: 'x' }), e.hash);
  });

  it('names the month file in UTC', () => {
    assert.equal(auditFileForTime('2026-01-31T23:59:59.999Z'), '2026-01.jsonl');
    assert.equal(auditFileForTime('2026-01-31T23:30:00-01:00'), '2026-02.jsonl');
  });
});

describe('verifyAuditChain', () => {
  const events = chain(6);

  it('accepts an intact chain, across files', () => {
    const l = [...lines(events.slice(0, 3), '2026-01.jsonl'), ...lines(events.slice(3), '2026-02.jsonl')];
    const r = verifyAuditChain(l);
    assert.deepEqual(r, { ok: true, count: 6, lastSeq: 6, lastHash: events[5]?.hash });
    assert.deepEqual(verifyAuditChain([]), { ok: true, count: 0, lastSeq: 0, lastHash: GENESIS_HASH });
  });

  it('reports an edited line (hash mismatch) at its line', () => {
    const edited = events.map((e) => (e.seq === 3 ? { ...e, actor_name: 'Mallory' } : e));
    const r = bad(verifyAuditChain(lines(edited)));
    assert.equal(r.detail.kind, 'edited');
    assert.equal(r.detail.line, 3);
    assert.equal(r.count, 2);
    assert.match(r.problem, /^2026-01\.jsonl line 3: .*\(edited\)$/);
  });

  it('reports an edited-and-rehashed line at that line, via its successor', () => {
    const forged = sealAuditEvent({ ...events[2]!, command: 'nothing to see' });
    const l = lines(events.map((e) => (e.seq === 3 ? forged : e)));
    const r = bad(verifyAuditChain(l));
    assert.equal(r.detail.kind, 'edited');
    assert.equal(r.detail.line, 3);
  });

  it('reports a deleted line where the gap is', () => {
    const r = bad(verifyAuditChain(lines(events.filter((e) => e.seq !== 4))));
    assert.equal(r.detail.kind, 'deleted');
    assert.equal(r.detail.line, 4);
    assert.equal(r.detail.seq, 5);
    assert.match(r.detail.message, /seq 4 is missing/);
  });

  it('reports deleted first events', () => {
    const r = bad(verifyAuditChain(lines(events.slice(2))));
    assert.equal(r.detail.kind, 'deleted');
    assert.equal(r.detail.line, 1);
  });

  it('reports an inserted forged line (bad hash) at its line', () => {
    const forged = JSON.stringify({ ...events[1], id: 'evil', seq: 3 });
    const l = lines([events[0]!, events[1]!, forged, ...events.slice(2)]);
    const r = bad(verifyAuditChain(l));
    assert.equal(r.detail.kind, 'inserted');
    assert.equal(r.detail.line, 3);
  });

  it('reports an inserted self-consistent line at its line', () => {
    const forged = sealAuditEvent({ ...events[2]!, id: 'evil', command: 'forged' });
    const l = lines([events[0]!, events[1]!, forged, ...events.slice(2)]);
    const r = bad(verifyAuditChain(l));
    assert.equal(r.detail.kind, 'inserted');
    assert.equal(r.detail.line, 3);
    assert.equal(r.count, 2);
  });

  it('reports a duplicated line', () => {
    const l = lines([...events.slice(0, 4), events[1]!, ...events.slice(4)]);
    const r = bad(verifyAuditChain(l));
    assert.equal(r.detail.kind, 'inserted');
    assert.equal(r.detail.line, 5);
  });

  it('reports reordered lines at the first one out of place', () => {
    const l = lines([events[0]!, events[1]!, events[3]!, events[2]!, events[4]!, events[5]!]);
    const r = bad(verifyAuditChain(l));
    assert.equal(r.detail.kind, 'reordered');
    assert.equal(r.detail.line, 3);
    assert.equal(r.detail.seq, 4);
  });

  it('reports an unreadable line', () => {
    const r = bad(verifyAuditChain(lines([events[0]!, '{"seq": 2, oops'])));
    assert.equal(r.detail.kind, 'malformed');
    assert.equal(r.detail.line, 2);
    const extra = bad(verifyAuditChain(lines([JSON.stringify({ ...events[0], extra: 1 })])));
    assert.equal(extra.detail.kind, 'malformed');
  });

  it('uses the expected last event to catch events cut off the end', () => {
    const r = bad(verifyAuditChain(lines(events.slice(0, 4)), { expectLast: { seq: 6, hash: events[5]!.hash } }));
    assert.equal(r.detail.kind, 'deleted');
    assert.equal(r.detail.line, 5);
    assert.equal(verifyAuditChain(lines(events), { expectLast: { seq: 6, hash: events[5]!.hash } }).ok, true);
  });
});
