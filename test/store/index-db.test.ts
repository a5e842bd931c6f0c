import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { CorruptStateError } from '../../src/core/errors.ts';
import { LATEST_INDEX_VERSION, MIGRATIONS } from '../../src/store/index-db.ts';
import { openStateStore } from '../../src/store/state-store.ts';
import { manualClock, newRelease, openTestStore, recordingLogger, snapshotStore, sopsDoc, tempDir } from './helpers.ts';

/** A state dir with a bit of everything, and the answers its index gives. */
function seedState(t: Parameters<typeof tempDir>[0]) {
  const root = tempDir(t);
  const { store } = openTestStore(t, root);
  store.createApp({ name: 'myapp', environment: 'production' });
  store.createApp({ name: 'myapp-staging', environment: 'staging' });
  store.createRelease(newRelease('myapp'));
  store.updateReleaseStatus('myapp', 1, { status: 'succeeded', finished: true });
  store.createRelease(newRelease('myapp-staging'));
  store.writeConfigVersion('myapp', sopsDoc(['API_KEY']), ['API_KEY']);
  store.updateApp('myapp', (a) => ({ ...a, status: 'running', domains: ['myapp.com'] }));
  store.appendAudit({ actor_id: 'cli:alice', actor_name: 'alice', source: 'cli', command: 'deploy myapp', app: 'myapp', outcome: 'ok' });
  const snapshot = snapshotStore(store);
  store.close();
  return { root, snapshot };
}

const dbPath = (root: string): string => join(root, 'pvdifyd.db');

describe('index schema', () => {
  it('has exactly the seed columns first in apps, releases and domains', (t) => {
    const { root } = seedState(t);
    const db = new Database(dbPath(root), { readonly: true });
    t.after(() => db.close());
    const cols = (table: string): string[] => (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as Array<{ name: string }>).map((c) => c.name);
    assert.deepEqual(cols('apps').slice(0, 7), ['name', 'environment', 'status', 'image', 'bind_port', 'created_at', 'updated_at']);
    assert.deepEqual(cols('releases').slice(0, 8), ['id', 'app_name', 'version', 'image', 'config_version', 'status', 'created_at', 'created_by']);
    assert.deepEqual(cols('domains'), ['domain', 'app_name', 'status', 'cf_record_id', 'created_at']);
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), MIGRATIONS.map((m) => ({ version: m.version })));
    assert.equal((db.pragma('journal_mode', { simple: true }) as string).toLowerCase(), 'wal');
    const row = db.prepare('SELECT name, environment, status, image, bind_port FROM apps WHERE name = ?').get('myapp');
    assert.deepEqual(row, { name: 'myapp', environment: 'production', status: 'running', image: null, bind_port: 3000 });
    assert.deepEqual(db.prepare('SELECT app_name, version, config_version, status, created_by FROM releases ORDER BY id').all(), [
      { app_name: 'myapp', version: 1, config_version: null, status: 'succeeded', created_by: 'cli:alice' },
      { app_name: 'myapp-staging', version: 1, config_version: null, status: 'pending', created_by: 'cli:alice' },
    ]);
  });
});

describe('opening an index', () => {
  it('migrates a seed-era database (seed DDL only) and fills it from the files', (t) => {
    const { root, snapshot } = seedState(t);
    rmSync(dbPath(root));
    const old = new Database(dbPath(root));
    MIGRATIONS[0]?.up(old);
    old.prepare("INSERT INTO apps (name, environment, status, bind_port) VALUES ('stale', 'production', 'running', 3100)").run();
    old.close();
    const log = recordingLogger();
    const { store } = openTestStore(t, root, { log });
    assert.deepEqual(snapshotStore(store), snapshot);
    assert.ok(log.warnings().some((w) => /migrated/.test(w)));
    const db = new Database(dbPath(root), { readonly: true });
    t.after(() => db.close());
    assert.deepEqual(
      (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>).map((r) => r.version),
      [1, 2],
    );
  });

  it('refuses an index from a newer pvdify and leaves it untouched', (t) => {
    const { root } = seedState(t);
    const db = new Database(dbPath(root));
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(LATEST_INDEX_VERSION + 5, '2030-01-01T00:00:00Z');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    const bytes = readFileSync(dbPath(root));
    assert.throws(
      () => openStateStore({ root, clock: manualClock(), log: recordingLogger() }),
      (e: unknown) =>
        e instanceof CorruptStateError && e.message.includes(`index schema version ${LATEST_INDEX_VERSION + 5} is newer than this pvdify supports (${LATEST_INDEX_VERSION})`),
    );
    assert.deepEqual(readFileSync(dbPath(root)), bytes);
  });

  it('moves a file that is not a database aside and rebuilds', (t) => {
    const { root, snapshot } = seedState(t);
    for (const ext of ['-wal', '-shm']) rmSync(dbPath(root) + ext, { force: true });
    writeFileSync(dbPath(root), 'this is not a database, it is a text file that is long enough to matter');
    const { store, log } = openTestStore(t, root);
    assert.deepEqual(snapshotStore(store), snapshot);
    const aside = readdirSync(root).filter((n) => n.startsWith('pvdifyd.db.corrupt-'));
    assert.equal(aside.length, 1);
    assert.match(readFileSync(join(root, aside[0] as string), 'utf8'), /^this is not a database/);
    assert.ok(log.warnings().some((w) => /damaged or unrecognised; moving it aside/.test(w)));
  });

  it('rebuilds a malformed database (damaged pages) found while in use', (t) => {
    const { root, snapshot } = seedState(t);
    // Fill the index so its tables span many pages, then scribble over the middle of the file.
    const { store: filler } = openTestStore(t, root);
    for (let i = 0; i < 300; i++) filler.appendAudit({ actor_id: 'cli:alice', actor_name: 'alice', source: 'cli', command: `noise ${'x'.repeat(500)}`, app: 'myapp-staging', outcome: 'ok' });
    const expected = snapshotStore(filler);
    filler.close();
    assert.notDeepEqual(expected, snapshot);
    const size = statSync(dbPath(root)).size;
    assert.ok(size > 100_000, `index is ${size} bytes`);
    const fd = openSync(dbPath(root), 'r+');
    for (let off = 8192; off < size - 4096; off += 4096) writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, off + 100);
    closeSync(fd);
    const { store, log } = openTestStore(t, root);
    assert.deepEqual(snapshotStore(store), expected);
    assert.ok(existsSync(root) && readdirSync(root).some((n) => n.startsWith('pvdifyd.db.corrupt-')));
    assert.ok(log.warnings().some((w) => /damage/.test(w)));
  });

  it('moves an unrecognised schema aside', (t) => {
    const { root, snapshot } = seedState(t);
    rmSync(dbPath(root));
    for (const ext of ['-wal', '-shm']) rmSync(dbPath(root) + ext, { force: true });
    const other = new Database(dbPath(root));
    other.exec('CREATE TABLE something_else (x INTEGER)');
    other.close();
    const { store, log } = openTestStore(t, root);
    assert.deepEqual(snapshotStore(store), snapshot);
    assert.ok(log.warnings().some((w) => /unrecognised/.test(w)));
  });

  it('builds a missing index', (t) => {
    const { root, snapshot } = seedState(t);
    rmSync(dbPath(root));
    const { store, log } = openTestStore(t, root);
    assert.deepEqual(snapshotStore(store), snapshot);
    assert.ok(log.warnings().some((w) => /index missing/.test(w)));
  });

  it('notices files changed behind its back and rebuilds', (t) => {
    const { root } = seedState(t);
    const copy = readFileSync(join(root, 'releases', 'myapp', 'v1.yaml'), 'utf8').replace('\nversion: 1\n', '\nversion: 2\n');
    writeFileSync(join(root, 'releases', 'myapp', 'v2.yaml'), copy);
    rmSync(join(root, 'apps', 'myapp-staging.yaml'));
    const { store, log } = openTestStore(t, root);
    assert.deepEqual(
      store.listReleases('myapp').map((r) => r.version),
      [2, 1],
    );
    assert.equal(store.getApp('myapp-staging'), null);
    assert.ok(log.warnings().some((w) => /stale/.test(w)));
  });

  it('opens an in-sync index without rebuilding or warning', (t) => {
    const { root, snapshot } = seedState(t);
    const { store, log } = openTestStore(t, root);
    assert.deepEqual(snapshotStore(store), snapshot);
    assert.deepEqual(log.warnings(), []);
  });
});
