import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import { LockedError } from '../../src/core/errors.ts';
import { openTestStore, tempDir } from './helpers.ts';

const WORKER = fileURLToPath(new URL('./fixtures/store-worker.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface Worker {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the next line the worker prints. */
  nextLine(): Promise<string>;
}

function startWorker(t: TestContext, args: string[]): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { cwd: REPO, stdio: 'pipe' });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  return {
    child,
    nextLine: () =>
      new Promise((resolve, reject) => {
        const l = lines.shift();
        if (l !== undefined) return resolve(l);
        waiters.push(resolve);
        child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${stderr}`)));
      }),
  };
}

describe('per-app locks across processes', () => {
  it('names the holder, operation and time; other apps stay free; release lets the next one in', async (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    const w = startWorker(t, ['hold-lock', root, 'myapp', 'cli:alice', 'deploy', '2026-12-04T10:00:00.000Z']);
    assert.equal(await w.nextLine(), 'locked');

    assert.throws(
      () => store.acquireAppLock('myapp', 'slack:U2', 'config:set'),
      (e: unknown) => e instanceof LockedError && e.message === 'myapp is locked by cli:alice (deploy) since 2026-12-04T10:00:00Z',
    );
    assert.deepEqual(store.listLocks(), [{ app: 'myapp', holder: 'cli:alice', operation: 'deploy', pid: w.child.pid, since: '2026-12-04T10:00:00.000Z' }]);
    const other = store.acquireAppLock('other', 'slack:U2', 'deploy');
    other.release();
    other.release(); // idempotent

    w.child.stdin.write('release\n');
    assert.equal(await w.nextLine(), 'released');
    const mine = store.acquireAppLock('myapp', 'slack:U2', 'config:set');
    assert.throws(() => store.acquireAppLock('myapp', 'slack:U3', 'deploy'), /myapp is locked by slack:U2 \(config:set\)/);
    mine.release();
    w.child.stdin.end();
    await once(w.child, 'exit');
  });

  it('takes over a lock whose process died', async (t) => {
    const root = tempDir(t);
    const { store, log } = openTestStore(t, root);
    const w = startWorker(t, ['hold-lock', root, 'myapp', 'cli:alice', 'deploy', '2026-12-04T10:00:00.000Z']);
    assert.equal(await w.nextLine(), 'locked');
    assert.throws(() => store.acquireAppLock('myapp', 'cli:bob', 'deploy'), LockedError);
    w.child.kill('SIGKILL');
    await once(w.child, 'exit');
    assert.deepEqual(store.listLocks(), []);
    const lock = store.acquireAppLock('myapp', 'cli:bob', 'deploy');
    assert.ok(log.warnings().some((m) => /taking over a lock whose process is gone/.test(m)));
    assert.equal(store.listLocks()[0]?.holder, 'cli:bob');
    lock.release();
  });

  it('recreates a damaged lock file (it only holds live locks)', (t) => {
    const root = tempDir(t);
    writeFileSync(join(root, 'pvdifyd.lock.db'), 'garbage that is not sqlite, long enough to be read as a header');
    const { store, log } = openTestStore(t, root);
    store.acquireAppLock('myapp', 'cli:a', 'deploy').release();
    assert.ok(log.warnings().some((m) => /lock database is damaged/.test(m)));
    assert.ok(readdirSync(root).some((n) => n.startsWith('pvdifyd.lock.db.corrupt-')));
  });

  it('a second holder in the same process is refused too', (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    const a = store.acquireAppLock('myapp', 'slack:U1', 'deploy');
    assert.throws(() => store.acquireAppLock('myapp', 'slack:U2', 'deploy'), LockedError);
    a.release();
    store.acquireAppLock('myapp', 'slack:U2', 'deploy').release();
  });
});

describe('the store mutex across processes', () => {
  it('two processes creating apps at once get distinct ports and a consistent index', async (t) => {
    const root = tempDir(t);
    const { store } = openTestStore(t, root);
    const a = startWorker(t, ['create-apps', root, 'left', '25']);
    const b = startWorker(t, ['create-apps', root, 'right', '25']);
    const here: number[] = [];
    for (let i = 0; i < 25; i++) here.push(store.createApp({ name: `mid-${i}`, environment: 'production' }).bind_port);
    const ports = [...(JSON.parse(await a.nextLine()) as number[]), ...(JSON.parse(await b.nextLine()) as number[]), ...here];
    assert.equal(new Set(ports).size, 75);
    assert.deepEqual(
      [...ports].sort((x, y) => x - y),
      Array.from({ length: 75 }, (_, i) => 3000 + i),
    );
    const apps = store.listApps();
    assert.equal(apps.length, 75);
    const before = JSON.stringify(apps);
    store.rebuildIndex();
    assert.equal(JSON.stringify(store.listApps()), before);
  });
});
