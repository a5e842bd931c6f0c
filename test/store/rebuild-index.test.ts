import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Approval } from '../../src/core/model.ts';
import type { StateStore } from '../../src/core/ports/store.ts';
import { findTempFiles, newRelease, openTestStore, snapshotStore, sopsDoc, tempDir, type ManualClock } from './helpers.ts';

/** Drives the store through every kind of write, including a deleted app and a damaged file. */
function buildVariedState(store: StateStore, clock: ManualClock, root: string): void {
  const apps = ['shop', 'shop-staging', 'shop-pr-12', 'blog', 'gone'];
  for (const [i, name] of apps.entries()) {
    store.createApp({ name, environment: i === 1 ? 'staging' : i === 2 ? 'preview' : 'production' });
    clock.advance(1000);
  }
  for (const name of apps) {
    for (let v = 1; v <= 4; v++) {
      const r = store.createRelease(newRelease(name, { image: `ghcr.io/org/${name}:v${v}`, description: `Deploy v${v}`, config_version: v > 2 ? 1 : null }));
      clock.advance(1000);
      store.updateReleaseStatus(name, r.version, { status: v === 3 ? 'failed' : 'succeeded', finished: true, error: v === 3 ? { step: 'health', message: 'timed out' } : null });
    }
    store.writeConfigVersion(name, sopsDoc(['API_KEY', 'DATABASE_URL']), ['API_KEY', 'DATABASE_URL']);
    store.writeSecretFile(name, 'current.env', 'API_KEY=x\n');
    store.appendAudit({ actor_id: 'slack:U1', actor_name: 'Alice', source: 'slack', channel: 'C1', command: `deploy ${name}`, app: name, outcome: 'ok', ref: `${name} v4` });
    clock.advance(40 * 86_400_000); // spread the audit log over several months
  }
  store.updateApp('shop', (a) => ({
    ...a,
    status: 'running',
    image: 'ghcr.io/org/shop:v4',
    current_release: 4,
    domains: ['shop.example.com', 'www.shop.example.com'],
    domain_routes: { 'shop.example.com': { status: 'active', cf_record_id: 'rec-1', created_at: clock.now().toISOString() } },
  }));
  store.updateApp('blog', (a) => ({ ...a, domains: ['blog.example.com'] }));
  const approval: Approval = {
    schema_version: 1,
    id: 'apr-123456',
    app: 'shop',
    action: 'deploy',
    command: 'deploy shop ghcr.io/org/shop:v5',
    requested_by: 'slack:U1',
    requested_by_name: 'Alice',
    requested_at: clock.now().toISOString(),
    expires_at: new Date(clock.now().getTime() + 3_600_000).toISOString(),
    status: 'pending',
    decided_by: null,
    decided_by_name: null,
    decided_at: null,
    channel: 'C1',
    message_ts: '1.1',
  };
  store.putApproval(approval);
  store.putApproval({ ...approval, id: 'apr-654321', app: 'blog' });
  store.decideApproval('apr-654321', 'pending', { status: 'rejected', decided_by: 'slack:U2', decided_by_name: 'Bob', decided_at: clock.now().toISOString() });
  store.deleteApp('gone');
  writeFileSync(join(root, 'approvals', 'apr-broken.yaml'), 'id: [\n');
}

describe('rebuildIndex', () => {
  it('gives the same answers from every read method before and after', (t) => {
    const root = tempDir(t);
    const { store, clock } = openTestStore(t, root);
    buildVariedState(store, clock, root);
    // The damaged approval was added behind the store's back; a reopen notices it.
    store.close();
    const reopened = openTestStore(t, root);
    const before = snapshotStore(reopened.store, ['gone']);
    assert.equal(before.apps.length, 4);
    assert.equal(before.problems.length, 1);
    const report = reopened.store.rebuildIndex();
    assert.deepEqual(snapshotStore(reopened.store, ['gone']), before);
    assert.deepEqual(
      { apps: report.apps, releases: report.releases, configVersions: report.configVersions, approvals: report.approvals, auditEvents: report.auditEvents },
      { apps: 4, releases: 16, configVersions: 4, approvals: 2, auditEvents: 5 },
    );
    assert.deepEqual(report.problems, before.problems);
    assert.ok(report.durationMs >= 0);

    // And from nothing: delete the index entirely.
    reopened.store.close();
    rmSync(join(root, 'pvdifyd.db'));
    const fresh = openTestStore(t, root);
    assert.deepEqual(snapshotStore(fresh.store, ['gone']), before);
  });

  it('swaps in a fresh file when it is the only connection, and rebuilds in place otherwise', (t) => {
    const root = tempDir(t);
    const { store, clock } = openTestStore(t, root);
    buildVariedState(store, clock, root);
    const ino = (): bigint => statSync(join(root, 'pvdifyd.db'), { bigint: true }).ino;
    store.rebuildIndex(); // picks up the damaged approval written behind the store's back
    const before = snapshotStore(store, ['gone']);
    const first = ino();
    store.rebuildIndex();
    assert.notEqual(ino(), first, 'sole connection: a new file was renamed into place');
    assert.deepEqual(snapshotStore(store, ['gone']), before);

    // A second open store keeps the index open: the rebuild must not pull the file from under it.
    const other = openTestStore(t, root).store;
    const copy = readFileSync(join(root, 'releases', 'shop', 'v1.yaml'), 'utf8').replace('\nversion: 1\n', '\nversion: 9\n');
    writeFileSync(join(root, 'releases', 'shop', 'v9.yaml'), copy);
    const second = ino();
    store.rebuildIndex();
    assert.equal(ino(), second, 'another connection: rebuilt in place');
    assert.equal(other.listReleases('shop', 1)[0]?.version, 9, 'the other connection sees the rebuilt rows');
    assert.deepEqual(snapshotStore(other, ['gone']), snapshotStore(store, ['gone']));
  });

  it('removes temp files left by interrupted writes and ignores them until then', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    store.createApp({ name: 'shop', environment: 'production' });
    store.createRelease(newRelease('shop'));
    const temps = [join(root, 'apps', '.shop.yaml.999-1.tmp'), join(root, 'releases', 'shop', '.v2.yaml.999-2.tmp')];
    for (const p of temps) writeFileSync(p, 'half a fi');
    const report = store.rebuildIndex();
    assert.deepEqual(report.problems, []);
    assert.equal(report.releases, 1);
    for (const p of temps) assert.equal(existsSync(p), false);
    assert.deepEqual(findTempFiles(root), []);
  });
});
