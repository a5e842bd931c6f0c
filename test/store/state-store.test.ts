import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ConflictError,
  CorruptStateError,
  ExhaustedError,
  InvalidInputError,
  NotFoundError,
  StateUnwritableError,
} from '../../src/core/errors.ts';
import type { AppSlot, Approval } from '../../src/core/model.ts';
import { openStateStore } from '../../src/store/state-store.ts';
import { stringifyYaml } from '../../src/store/yaml-io.ts';
import { manualClock, newRelease, openTestStore, recordingLogger, sopsDoc, tempDir } from './helpers.ts';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/yaml/${name}`, import.meta.url), 'utf8');

function approval(id: string, app = 'myapp', overrides: Partial<Approval> = {}): Approval {
  return {
    schema_version: 1,
    id,
    app,
    action: 'deploy',
    command: `deploy ${app} ghcr.io/org/app:v2`,
    requested_by: 'slack:U1',
    requested_by_name: 'Alice',
    requested_at: '2026-01-05T10:00:00.000Z',
    expires_at: '2026-01-05T11:00:00.000Z',
    status: 'pending',
    decided_by: null,
    decided_by_name: null,
    decided_at: null,
    channel: 'C1',
    message_ts: '1.2',
    ...overrides,
  };
}

function appFile(name: string, port: number): string {
  const app: AppSlot = {
    version: 1,
    name,
    environment: 'production',
    status: 'created',
    image: null,
    bind_port: port,
    processes: { web: { command: null, count: 1 } },
    domains: [],
    domain_routes: {},
    resources: { memory: null, cpu: null },
    healthcheck: { path: '/health', interval: '30s', timeout: '5s', retries: 3 },
    current_release: null,
    config_version: null,
    deployment: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  };
  return stringifyYaml(app);
}

describe('apps', () => {
  it('creates a slot with the documented defaults, as a YAML file and an index row', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    const app = store.createApp({ name: 'myapp', environment: 'production' });
    assert.deepEqual(app, {
      version: 1,
      name: 'myapp',
      environment: 'production',
      status: 'created',
      image: null,
      bind_port: 3000,
      processes: { web: { command: null, count: 1 } },
      domains: [],
      domain_routes: {},
      resources: { memory: null, cpu: null },
      healthcheck: { path: '/health', interval: '30s', timeout: '5s', retries: 3 },
      current_release: null,
      config_version: null,
      deployment: null,
      created_at: '2026-01-05T10:00:00.000Z',
      updated_at: '2026-01-05T10:00:00.000Z',
    });
    const file = join(root, 'apps', 'myapp.yaml');
    assert.equal(statSync(file).mode & 0o777, 0o644);
    assert.match(readFileSync(file, 'utf8'), /^version: 1\nname: myapp\nenvironment: production\n/);
    assert.deepEqual(store.getApp('myapp'), app);
    assert.deepEqual(store.listApps(), [app]);
    assert.equal(store.getApp('nope'), null);
  });

  it('refuses taken and invalid names before touching anything', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    store.createApp({ name: 'myapp', environment: 'production' });
    assert.throws(() => store.createApp({ name: 'myapp', environment: 'staging' }), ConflictError);
    for (const bad of ['MyApp', '../etc', '-x', 'a'.repeat(41), '']) {
      assert.throws(() => store.createApp({ name: bad, environment: 'production' }), InvalidInputError, bad);
    }
    assert.deepEqual(readdirSync(join(root, 'apps')), ['myapp.yaml']);
  });

  it('allocates the lowest free port, reuses freed ones, and says when all 1000 are taken', (t) => {
    const root = tempDir(t);
    // 999 slots written directly (fast), then indexed by the first open.
    mkdirSync(join(root, 'apps'), { recursive: true });
    for (let i = 0; i < 1000; i++) if (i !== 7) writeFileSync(join(root, 'apps', `app-${i}.yaml`), appFile(`app-${i}`, 3000 + i));
    const { store } = openTestStore(t, root);
    assert.equal(store.listApps().length, 999);
    assert.equal(store.createApp({ name: 'gap', environment: 'production' }).bind_port, 3007);
    assert.throws(
      () => store.createApp({ name: 'full', environment: 'production' }),
      (e: unknown) => e instanceof ExhaustedError && e.message === 'all 1000 router ports 3000–3999 are in use; delete an app to free one',
    );
    assert.equal(existsSync(join(root, 'apps', 'full.yaml')), false);
    store.deleteApp('app-512');
    assert.equal(store.createApp({ name: 'reuse', environment: 'staging' }).bind_port, 3512);
  });

  it('updates under the lock: validates, keeps identity fields, indexes domains', (t) => {
    const root = tempDir(t);
    const { store, clock } = openTestStore(t, root);
    store.createApp({ name: 'myapp', environment: 'production' });
    store.createApp({ name: 'other', environment: 'production' });
    clock.advance(60_000);
    const now = clock.now().toISOString();
    const updated = store.updateApp('myapp', (a) => ({
      ...a,
      status: 'running',
      domains: ['myapp.com', 'www.myapp.com'],
      domain_routes: { 'myapp.com': { status: 'active', cf_record_id: 'rec1', created_at: now } },
    }));
    assert.equal(updated.updated_at, now);
    assert.deepEqual(store.listDomains('myapp'), [
      { domain: 'myapp.com', app_name: 'myapp', status: 'active', cf_record_id: 'rec1', created_at: now },
      { domain: 'www.myapp.com', app_name: 'myapp', status: 'pending', cf_record_id: null, created_at: now },
    ]);
    assert.equal(store.findDomain('myapp.com')?.app_name, 'myapp');
    assert.throws(() => store.updateApp('other', (a) => ({ ...a, domains: ['myapp.com'] })), ConflictError);
    assert.throws(() => store.updateApp('myapp', (a) => ({ ...a, bind_port: 3999 })), /bind_port of app myapp cannot be changed/);
    const before = readFileSync(join(root, 'apps', 'myapp.yaml'), 'utf8');
    assert.throws(
      () => store.updateApp('myapp', (a) => ({ ...a, processes: { web: { command: null, count: 99 } } })),
      (e: unknown) => e instanceof InvalidInputError && /processes\.web\.count/.test(e.message),
    );
    assert.equal(readFileSync(join(root, 'apps', 'myapp.yaml'), 'utf8'), before);
    assert.throws(() => store.updateApp('ghost', (a) => a), NotFoundError);
    store.updateApp('myapp', (a) => ({ ...a, domains: ['www.myapp.com'], domain_routes: {} }));
    assert.equal(store.findDomain('myapp.com'), null);
  });

  it('deletes the slot, its releases and config versions, frees domains, keeps the audit trail', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    store.createApp({ name: 'myapp', environment: 'production' });
    store.createRelease(newRelease('myapp'));
    store.writeConfigVersion('myapp', sopsDoc(['API_KEY']), ['API_KEY']);
    store.writeSecretFile('myapp', 'current.env', 'API_KEY=x\n');
    store.updateApp('myapp', (a) => ({ ...a, domains: ['myapp.com'] }));
    store.appendAudit({ actor_id: 'cli:alice', actor_name: 'alice', source: 'cli', command: 'apps:create myapp', app: 'myapp', outcome: 'ok' });
    store.deleteApp('myapp');
    assert.equal(store.getApp('myapp'), null);
    assert.deepEqual(store.listReleases('myapp'), []);
    assert.deepEqual(store.listConfigVersions('myapp'), []);
    assert.deepEqual(store.listDomains(), []);
    assert.equal(store.queryAudit({ app: 'myapp' }).length, 1);
    for (const p of ['apps/myapp.yaml', 'releases/myapp', 'config/myapp']) assert.equal(existsSync(join(root, p)), false, p);
    assert.throws(() => store.deleteApp('myapp'), NotFoundError);
  });
});

describe('releases', () => {
  it('numbers releases per app, newest first, and updates status fields only', (t) => {
    const root = tempDir(t);
    const { store, clock } = openTestStore(t, root);
    store.createApp({ name: 'myapp', environment: 'production' });
    store.createApp({ name: 'other', environment: 'production' });
    const r1 = store.createRelease(newRelease('myapp'));
    store.createRelease(newRelease('other'));
    const r2 = store.createRelease(newRelease('myapp', { status: 'deploying', image: 'ghcr.io/org/myapp:v2' }));
    assert.deepEqual([r1.version, r1.status, r2.version, r2.status], [1, 'pending', 2, 'deploying']);
    assert.deepEqual(
      store.listReleases('myapp').map((r) => r.version),
      [2, 1],
    );
    assert.deepEqual(
      store.listReleases('myapp', 1).map((r) => r.version),
      [2],
    );
    clock.advance(5000);
    const failed = store.updateReleaseStatus('myapp', 2, { status: 'failed', error: { step: 'health', message: 'no 200 from /health' }, finished: true });
    assert.equal(failed.finished_at, clock.now().toISOString());
    assert.equal(failed.image, 'ghcr.io/org/myapp:v2');
    assert.deepEqual(store.getRelease('myapp', 2), failed);
    assert.match(readFileSync(join(root, 'releases', 'myapp', 'v2.yaml'), 'utf8'), /status: failed/);
    assert.throws(() => store.updateReleaseStatus('myapp', 9, { status: 'failed' }), NotFoundError);
    assert.throws(() => store.createRelease(newRelease('ghost')), NotFoundError);
    assert.throws(() => store.createRelease(newRelease('myapp', { image: '-rm -rf' })), InvalidInputError);
    assert.deepEqual(readdirSync(join(root, 'releases', 'myapp')).sort(), ['v1.yaml', 'v2.yaml']);
  });
});

describe('config versions and secret files', () => {
  it('writes immutable 0600 versions, indexes their keys, never overwrites one', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    store.createApp({ name: 'myapp', environment: 'production' });
    assert.equal(store.writeConfigVersion('myapp', sopsDoc(['API_KEY', 'DATABASE_URL']), ['DATABASE_URL', 'API_KEY']), 1);
    // A damaged v2 that appeared behind the store's back is skipped, not replaced.
    writeFileSync(join(root, 'config', 'myapp', 'v2.sops.yaml'), 'garbage: [\n');
    assert.equal(store.writeConfigVersion('myapp', sopsDoc(['API_KEY'], '2026-01-06T00:00:00Z'), ['API_KEY']), 3);
    assert.equal(readFileSync(join(root, 'config', 'myapp', 'v2.sops.yaml'), 'utf8'), 'garbage: [\n');
    assert.equal(statSync(join(root, 'config', 'myapp', 'v3.sops.yaml')).mode & 0o777, 0o600);
    assert.deepEqual(store.listConfigVersions('myapp'), [
      { app_name: 'myapp', version: 3, keys: ['API_KEY'], created_at: '2026-01-06T00:00:00Z' },
      { app_name: 'myapp', version: 1, keys: ['API_KEY', 'DATABASE_URL'], created_at: '2026-01-05T10:30:00Z' },
    ]);
    assert.equal(store.readConfigVersion('myapp', 1), sopsDoc(['API_KEY', 'DATABASE_URL']));
    assert.throws(() => store.readConfigVersion('myapp', 7), NotFoundError);
    assert.throws(() => store.writeConfigVersion('myapp', sopsDoc(['A']), ['B']), /keys given do not match/);
    assert.throws(() => store.writeConfigVersion('myapp', 'API_KEY: plain\n', ['API_KEY']), /sops: /);
  });

  it('writes rendered env files with mode 0600 and refuses path tricks', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    store.createApp({ name: 'myapp', environment: 'production' });
    const path = store.writeSecretFile('myapp', 'current.env', 'API_KEY=s3cret\n');
    assert.equal(path, join(root, 'config', 'myapp', 'current.env'));
    assert.equal(statSync(path).mode & 0o777, 0o600);
    for (const bad of ['../x', 'a/b', '.hidden', 'v1.sops.yaml', '']) {
      assert.throws(() => store.writeSecretFile('myapp', bad, 'x'), InvalidInputError, bad);
    }
    assert.throws(() => store.writeSecretFile('ghost', 'current.env', 'x'), NotFoundError);
  });
});

describe('approvals', () => {
  it('stores requests and lets exactly one decision win', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    store.putApproval(approval('apr-000001'));
    store.putApproval(approval('apr-000002', 'other', { requested_at: '2026-01-05T10:05:00.000Z' }));
    assert.deepEqual(
      store.listApprovals().map((a) => a.id),
      ['apr-000002', 'apr-000001'],
    );
    assert.deepEqual(
      store.listApprovals({ app: 'myapp', status: 'pending' }).map((a) => a.id),
      ['apr-000001'],
    );
    const decision = { status: 'approved' as const, decided_by: 'slack:U2', decided_by_name: 'Bob', decided_at: '2026-01-05T10:10:00.000Z' };
    const won = store.decideApproval('apr-000001', 'pending', decision);
    assert.equal(won?.status, 'approved');
    assert.equal(store.decideApproval('apr-000001', 'pending', { ...decision, status: 'rejected', decided_by: 'slack:U3' }), null);
    assert.equal(store.getApproval('apr-000001')?.decided_by, 'slack:U2');
    assert.equal(store.decideApproval('apr-000001', 'approved', { id: 'hijack', app: 'other', status: 'cancelled' })?.id, 'apr-000001');
    assert.throws(() => store.decideApproval('apr-999999', 'pending', decision), NotFoundError);
    assert.throws(() => store.putApproval({ ...approval('apr-000003'), status: 'maybe' as Approval['status'] }), /status/);
  });
});

describe('damaged and hostile state files', () => {
  it('skips files that fail parsing or their schema, reports path and field, never rewrites them', (t) => {
    const root = tempDir(t);
    const { store: first } = openTestStore(t, root);
    first.createApp({ name: 'good', environment: 'production' });
    first.createApp({ name: 'badport', environment: 'production' });
    first.createRelease(newRelease('good'));
    first.close();
    const hostile: Record<string, string> = {
      'apps/badport.yaml': readFileSync(join(root, 'apps', 'badport.yaml'), 'utf8').replace('bind_port: 3001', 'bind_port: 99999'),
      'apps/bomb.yaml': fixture('anchor-bomb.yaml'),
      'apps/tagged.yaml': fixture('js-function-tag.yaml'),
      'apps/custom.yaml': fixture('custom-tag.yaml'),
      'approvals/apr-dupkey.yaml': fixture('duplicate-keys.yaml'),
      'apps/huge.yaml': `name: huge\npad: "${'x'.repeat(2 * 1024 * 1024)}"\n`,
      'releases/good/v2.yaml': readFileSync(join(root, 'releases', 'good', 'v1.yaml'), 'utf8').replace('\nversion: 1\n', '\nversion: 3\n'),
    };
    for (const [rel, text] of Object.entries(hostile)) writeFileSync(join(root, rel), text);

    const started = performance.now();
    const { store, log } = openTestStore(t, root);
    assert.ok(performance.now() - started < 5000, 'hostile files are refused quickly');
    assert.ok(log.warnings().some((w) => /stale/.test(w)), 'the changed tree is noticed and rebuilt');
    assert.deepEqual(
      store.listApps().map((a) => a.name),
      ['good'],
    );
    const problems = new Map(store.problems().map((p) => [p.path.slice(root.length + 1), p.message]));
    assert.deepEqual([...problems.keys()].sort(), Object.keys(hostile).sort());
    assert.match(problems.get('apps/badport.yaml') ?? '', /^bind_port: /);
    assert.match(problems.get('apps/bomb.yaml') ?? '', /alias/i);
    assert.match(problems.get('apps/tagged.yaml') ?? '', /tag/i);
    assert.match(problems.get('approvals/apr-dupkey.yaml') ?? '', /line 4, column 1: Map keys must be unique/);
    assert.match(problems.get('apps/huge.yaml') ?? '', /at most 1048576 bytes/);
    assert.match(problems.get('releases/good/v2.yaml') ?? '', /^version: is 3 but the file is v2\.yaml/);

    // A write that needs a damaged file refuses with CorruptStateError and leaves it as it is.
    assert.throws(
      () => store.updateApp('badport', (a) => ({ ...a, status: 'running' })),
      (e: unknown) => e instanceof CorruptStateError && e.path === join(root, 'apps', 'badport.yaml') && /bind_port/.test(e.message),
    );
    assert.throws(() => store.createApp({ name: 'badport', environment: 'production' }), CorruptStateError);
    assert.throws(() => store.createRelease(newRelease('badport')), CorruptStateError);
    assert.throws(() => store.updateReleaseStatus('good', 2, { status: 'failed' }), CorruptStateError);
    // The next release number skips the damaged v2.
    assert.equal(store.createRelease(newRelease('good')).version, 3);
    for (const [rel, text] of Object.entries(hostile)) assert.equal(readFileSync(join(root, rel), 'utf8'), text, `${rel} was rewritten`);
  });

  it('throws StateUnwritableError when the state dir path is not a directory', (t) => {
    const dir = tempDir(t);
    const root = join(dir, 'state');
    writeFileSync(root, 'oops');
    assert.throws(
      () => openStateStore({ root, clock: manualClock(), log: recordingLogger() }),
      (e: unknown) => e instanceof StateUnwritableError && e.message.includes(root),
    );
  });

  // As root, chmod 0500 does not stop writes, so the subdirectory is replaced by a regular file:
  // creating anything under it fails with ENOTDIR for every user, root included.
  it('a write to an unwritable dir fails cleanly and changes nothing', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    store.createApp({ name: 'myapp', environment: 'production' });
    store.createRelease(newRelease('myapp'));
    const before = { apps: store.listApps(), releases: store.listReleases('myapp') };

    renameSync(join(root, 'apps'), join(root, 'apps.away'));
    writeFileSync(join(root, 'apps'), 'not a directory');
    assert.throws(() => store.createApp({ name: 'second', environment: 'production' }), StateUnwritableError);
    renameSync(join(root, 'releases', 'myapp'), join(root, 'releases', 'myapp.away'));
    writeFileSync(join(root, 'releases', 'myapp'), 'not a directory');
    assert.throws(
      () => store.createRelease(newRelease('myapp')),
      (e: unknown) => e instanceof StateUnwritableError && /releases\/myapp/.test(e.message),
    );
    assert.deepEqual({ apps: store.listApps(), releases: store.listReleases('myapp') }, before);

    rmSync(join(root, 'apps'));
    renameSync(join(root, 'apps.away'), join(root, 'apps'));
    rmSync(join(root, 'releases', 'myapp'));
    renameSync(join(root, 'releases', 'myapp.away'), join(root, 'releases', 'myapp'));
    assert.equal(store.createApp({ name: 'second', environment: 'production' }).bind_port, 3001);
    assert.equal(store.createRelease(newRelease('myapp')).version, 2);
  });
});

describe('read-only stores', () => {
  it('answers from an in-memory index when the index is missing, and refuses writes', (t) => {
    const root = tempDir(t);
    const { store: writer } = openTestStore(t, root);
    writer.createApp({ name: 'myapp', environment: 'production' });
    writer.createRelease(newRelease('myapp'));
    writer.close();
    rmSync(join(root, 'pvdifyd.db'));
    const { store, log } = openTestStore(t, root, { readOnly: true });
    assert.deepEqual(
      store.listReleases('myapp').map((r) => r.version),
      [1],
    );
    assert.ok(log.warnings().some((w) => /in-memory index/.test(w)));
    assert.equal(existsSync(join(root, 'pvdifyd.db')), false, 'a read-only store writes nothing');
    assert.throws(() => store.createApp({ name: 'x', environment: 'production' }), StateUnwritableError);
    assert.throws(() => store.acquireAppLock('myapp', 'cli:a', 'deploy'), StateUnwritableError);
  });
});
