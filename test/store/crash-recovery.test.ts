/**
 * Deterministic companions to crash-safety.test.ts: each mutation is stopped right after its
 * files are in place and before the index hears of it (the test hook throws there, which leaves
 * exactly what a kill at that point leaves: the file change and a journal row). Then the index
 * must be repaired, by a reopen or by the next write of another open store.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { StateStore } from '../../src/core/ports/store.ts';
import { openStateStore } from '../../src/store/state-store.ts';
import { findTempFiles, manualClock, newRelease, recordingLogger, snapshotStore, sopsDoc, tempDir } from './helpers.ts';

class SimulatedCrash extends Error {}

/** A store whose next mutation "dies" after its files are written. */
function crashingStore(t: TestContext, root: string): { store: StateStore; arm(): void } {
  let armed = false;
  const store = openStateStore({
    root,
    clock: manualClock('2026-02-01T00:00:00.000Z'),
    log: recordingLogger(),
    hooks: {
      afterFiles: () => {
        if (!armed) return;
        armed = false;
        throw new SimulatedCrash('killed after the files, before the index');
      },
    },
  });
  t.after(() => store.close());
  return { store, arm: () => (armed = true) };
}

function seed(store: StateStore): void {
  store.createApp({ name: 'myapp', environment: 'production' });
  store.createApp({ name: 'other', environment: 'staging' });
  store.createRelease(newRelease('myapp'));
  store.createRelease(newRelease('other'));
  store.writeConfigVersion('other', sopsDoc(['A']), ['A']);
  store.putApproval({
    schema_version: 1,
    id: 'apr-000001',
    app: 'myapp',
    action: 'deploy',
    command: 'deploy myapp',
    requested_by: 'slack:U1',
    requested_by_name: 'Alice',
    requested_at: '2026-02-01T00:00:00.000Z',
    expires_at: '2026-02-01T01:00:00.000Z',
    status: 'pending',
    decided_by: null,
    decided_by_name: null,
    decided_at: null,
    channel: null,
    message_ts: null,
  });
  store.appendAudit({ actor_id: 'cli:a', actor_name: 'a', source: 'cli', command: 'seed', app: 'myapp', outcome: 'ok' });
}

const mutations: Array<[string, (s: StateStore) => unknown, (s: StateStore) => void]> = [
  ['createApp', (s) => s.createApp({ name: 'third', environment: 'preview' }), (s) => assert.equal(s.getApp('third')?.bind_port, 3002)],
  [
    'updateApp',
    (s) => s.updateApp('myapp', (a) => ({ ...a, status: 'running', domains: ['myapp.com'] })),
    (s) => assert.equal(s.findDomain('myapp.com')?.app_name, 'myapp'),
  ],
  ['deleteApp', (s) => s.deleteApp('other'), (s) => assert.deepEqual([s.getApp('other'), s.listReleases('other'), s.listConfigVersions('other')], [null, [], []])],
  ['createRelease', (s) => s.createRelease(newRelease('myapp')), (s) => assert.equal(s.listReleases('myapp', 1)[0]?.version, 2)],
  ['updateReleaseStatus', (s) => s.updateReleaseStatus('myapp', 1, { status: 'succeeded', finished: true }), (s) => assert.equal(s.getRelease('myapp', 1)?.status, 'succeeded')],
  ['writeConfigVersion', (s) => s.writeConfigVersion('myapp', sopsDoc(['API_KEY']), ['API_KEY']), (s) => assert.deepEqual(s.listConfigVersions('myapp')[0]?.keys, ['API_KEY'])],
  [
    'decideApproval',
    (s) => s.decideApproval('apr-000001', 'pending', { status: 'approved', decided_by: 'slack:U2', decided_by_name: 'Bob', decided_at: '2026-02-01T00:05:00.000Z' }),
    (s) => assert.equal(s.getApproval('apr-000001')?.status, 'approved'),
  ],
  ['appendAudit', (s) => s.appendAudit({ actor_id: 'cli:b', actor_name: 'b', source: 'cli', command: 'x', app: 'myapp', outcome: 'ok' }), (s) => assert.equal(s.queryAudit({}).length, 2)],
  ['writeSecretFile', (s) => s.writeSecretFile('myapp', 'current.env', 'A=1\n'), () => undefined],
];

describe('a write interrupted between its files and the index', () => {
  for (const [name, mutate, visible] of mutations) {
    it(`${name}: the next open repairs the index from the files`, (t) => {
      const root = tempDir(t);
      const { store, arm } = crashingStore(t, root);
      seed(store);
      arm();
      assert.throws(() => mutate(store), SimulatedCrash);
      store.close();
      const log = recordingLogger();
      const reopened = openStateStore({ root, clock: manualClock('2026-02-01T01:00:00.000Z'), log });
      t.after(() => reopened.close());
      assert.ok(log.warnings().includes('repairing after an interrupted write'));
      visible(reopened);
      const repaired = snapshotStore(reopened, ['myapp', 'other', 'third']);
      reopened.rebuildIndex();
      assert.deepEqual(snapshotStore(reopened, ['myapp', 'other', 'third']), repaired);
      assert.deepEqual(findTempFiles(root), []);
    });
  }

  it("another open store repairs it at its next write, and reads see it afterwards", (t) => {
    const root = tempDir(t);
    const { store: crashing, arm } = crashingStore(t, root);
    seed(crashing);
    const observer = openStateStore({ root, clock: manualClock('2026-02-01T02:00:00.000Z'), log: recordingLogger() });
    t.after(() => observer.close());
    arm();
    assert.throws(() => crashing.createRelease(newRelease('myapp')), SimulatedCrash);
    assert.ok(existsSync(join(root, 'releases', 'myapp', 'v2.yaml')));
    observer.appendAudit({ actor_id: 'cli:c', actor_name: 'c', source: 'cli', command: 'y', app: null, outcome: 'ok' });
    assert.equal(observer.listReleases('myapp', 1)[0]?.version, 2);
    assert.equal(crashing.createRelease(newRelease('myapp')).version, 3);
  });
});
