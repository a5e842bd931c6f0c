import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createServer, type AddressInfo } from 'node:net';
import { ConflictError, ExternalToolError, InvalidInputError, NotFoundError } from '../../../src/core/errors.ts';
import type { InstanceSpec, InstanceStats, Supervisor } from '../../../src/core/ports/runtime.ts';
import type { Journal, JournalEntry, JournalQuery } from '../../../src/adapters/journald/journal.ts';
import { createSystemctl } from '../../../src/adapters/systemd/systemctl.ts';
import { createSystemdSupervisor } from '../../../src/adapters/systemd/systemd-supervisor.ts';
import { renderInstanceUnit } from '../../../src/adapters/systemd/unit-file.ts';
import { createSystemctlStub, type SystemctlStub } from '../../support/systemctl-stub/index.ts';

const STATE_PROPS = '--property=Id,LoadState,ActiveState,SubState,Result,NRestarts,MainPID,ActiveEnterTimestamp,StateChangeTimestamp';

function spec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    app: 'shop',
    process: 'web',
    colour: 'blue',
    index: 1,
    image: 'localhost:5000/shop:v1',
    command: null,
    hostPort: 4001,
    envFile: '/var/lib/pvdify/config/shop/current.env',
    memory: null,
    cpu: null,
    release: 1,
    ...overrides,
  };
}

function entry(message: string, fields: Record<string, string | null> = {}): JournalEntry {
  return { time: '2025-01-07T10:00:00.000Z', source: 'pvdify-shop-web-blue-1', message, fields: { MESSAGE: message, ...fields } };
}

/** Records queries and answers with canned entries. */
function fakeJournal(entries: JournalEntry[]): Journal & { queries: JournalQuery[]; entries: JournalEntry[] } {
  const queries: JournalQuery[] = [];
  return {
    queries,
    entries,
    async read(q) {
      queries.push(q);
      return entries.slice(-q.lines);
    },
  };
}

describe('systemd supervisor (recording systemctl stub)', () => {
  let unitDir: string;
  let stub: SystemctlStub;
  let journal: ReturnType<typeof fakeJournal>;
  let statsCalls: string[][];
  let sup: Supervisor;
  const unit = 'pvdify-shop-web@blue-1.service';

  beforeEach(async () => {
    unitDir = await mkdtemp(join(tmpdir(), 'pvdify-sd-units-'));
    stub = await createSystemctlStub({ unitDir });
    journal = fakeJournal([
      entry('2025-01-07 container create abc (image=shop)', { PODMAN_EVENT: 'create', SYSLOG_IDENTIFIER: 'podman' }),
      entry('a'.repeat(64), { SYSLOG_IDENTIFIER: 'podman' }),
      entry('listening on 3000', { CONTAINER_NAME: 'pvdify-shop-web-blue-1' }),
      { ...entry('Error: image not known', { SYSLOG_IDENTIFIER: 'podman' }), source: unit },
      entry('GET /health 200', { CONTAINER_NAME: 'pvdify-shop-web-blue-1' }),
    ]);
    // systemd's own line about the unit: the journal names the unit as its source.
    journal.entries.push({ ...entry('Started pvdify-shop-web@blue-1.service.'), source: unit });
    statsCalls = [];
    sup = createSystemdSupervisor({
      unitDir,
      systemctl: createSystemctl({ path: stub.path, env: stub.env }),
      journal,
      podmanPath: '/usr/bin/podman',
      stateDir: '/var/lib/pvdify',
      startTimeoutMs: 400,
      pollIntervalMs: 50,
      stats: async (names): Promise<InstanceStats[]> => {
        statsCalls.push(names);
        return names.map((name) => ({ name, cpuPercent: 1.5, memoryBytes: 1024, memoryLimitBytes: null }));
      },
    });
  });
  afterEach(async () => {
    await stub.cleanup();
    await rm(unitDir, { recursive: true, force: true });
  });

  it('starts: writes the unit, reloads, enables, starts and waits for active', async () => {
    await sup.start(spec());
    assert.deepEqual(await stub.argvs(), [
      ['daemon-reload'],
      ['enable', '--', unit],
      ['start', '--', unit],
      ['show', '--timestamp=unix', STATE_PROPS, '--', unit],
    ]);
    const text = await readFile(join(unitDir, unit), 'utf8');
    assert.equal(text, renderInstanceUnit(spec(), { podmanPath: '/usr/bin/podman', stateDir: '/var/lib/pvdify' }));
    assert.equal((await stat(join(unitDir, unit))).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(unitDir), [unit], 'no temp files left behind');
    assert.equal((await stub.state()).units[unit]?.enabled, true);
  });

  it('replaces a running instance with restart, after reloading the new file', async () => {
    await sup.start(spec());
    await stub.clearCalls();
    await sup.start(spec({ release: 2, image: 'localhost:5000/shop:v2' }));
    const calls = await stub.calls();
    assert.deepEqual(
      calls.map((c) => c.argv[0]),
      ['show', 'daemon-reload', 'enable', 'restart', 'show'],
    );
    assert.ok(calls.every((c) => c.staleStart === undefined), 'systemd never saw a stale unit file');
    assert.match(await readFile(join(unitDir, unit), 'utf8'), /pvdify\.release=2/);
  });

  it('lists instances with state, restarts and what the unit file records', async () => {
    await sup.start(spec());
    await sup.start(spec({ process: 'worker', hostPort: null, release: 1 }));
    await sup.start(spec({ app: 'shop-staging', index: 2, hostPort: 4010, release: 5 }));
    await stub.crash(unit);
    // A stray file that is not ours is ignored.
    await writeFile(join(unitDir, 'pvdify-router.service'), '[Service]\n');

    const shop = await sup.list('shop');
    assert.deepEqual(
      shop.map((i) => [i.name, i.process, i.colour, i.index, i.state, i.hostPort, i.release, i.image, i.restarts]),
      [
        ['pvdify-shop-web-blue-1', 'web', 'blue', 1, 'running', 4001, 1, 'localhost:5000/shop:v1', 1],
        ['pvdify-shop-worker-blue-1', 'worker', 'blue', 1, 'running', null, 1, 'localhost:5000/shop:v1', 0],
      ],
    );
    assert.ok(shop[0]!.since !== null && Math.abs(Date.parse(shop[0]!.since) - Date.now()) < 60_000);
    const all = await sup.list();
    assert.deepEqual(all.map((i) => i.app).sort(), ['shop', 'shop', 'shop-staging']);
    // One show call for all units, not one per unit.
    await stub.clearCalls();
    await sup.list();
    assert.equal((await stub.argvs()).length, 1);
  });

  it('lists in app, process, colour, index order (2 before 10)', async () => {
    for (const [colour, index] of [['green', 1], ['blue', 10], ['blue', 2]] as const) {
      await sup.start(spec({ colour, index, hostPort: null }));
    }
    assert.deepEqual(
      (await sup.list('shop')).map((i) => i.name),
      ['pvdify-shop-web-blue-2', 'pvdify-shop-web-blue-10', 'pvdify-shop-web-green-1'],
    );
  });

  it('refuses a host port another process listens on, but lets an instance keep its own', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await assert.rejects(sup.start(spec({ hostPort: port })), (e: unknown) => {
        assert.ok(e instanceof ConflictError);
        assert.match(e.message, new RegExp(`port ${port}\\b`));
        return true;
      });
      assert.deepEqual(await readdir(unitDir), []);
      assert.deepEqual(await stub.argvs(), []);
      // Here the "other process" stands in for the running instance's own container.
      await new Promise((resolve) => blocker.close(resolve));
      await sup.start(spec({ hostPort: port }));
      await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port }, resolve));
      await sup.start(spec({ hostPort: port, release: 2 }));
      assert.equal((await sup.list('shop'))[0]?.release, 2);
      await assert.rejects(sup.start(spec({ index: 2, hostPort: port })), ConflictError);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('stops: disables with --now, removes the file, reloads; stopping again does nothing', async () => {
    await sup.start(spec());
    await stub.clearCalls();
    await sup.stop(spec());
    assert.deepEqual(await stub.argvs(), [['disable', '--now', '--', unit], ['daemon-reload']]);
    assert.deepEqual(await readdir(unitDir), []);
    assert.equal((await stub.state()).units[unit]?.ActiveState, 'inactive');
    assert.deepEqual(await sup.list('shop'), []);

    await stub.clearCalls();
    await sup.stop(spec());
    assert.deepEqual(
      (await stub.argvs()).map((a) => a[0]),
      ['show'],
    );
  });

  it('restarts an existing instance and refuses an unknown one', async () => {
    await sup.start(spec());
    await stub.clearCalls();
    await sup.restart(spec());
    assert.deepEqual(
      (await stub.argvs()).map((a) => a[0]),
      ['restart', 'show'],
    );
    await assert.rejects(sup.restart(spec({ index: 2 })), NotFoundError);
  });

  it('reports a unit that fails to start with its state', async () => {
    await stub.setBehaviour(unit, 'fail');
    const err = await sup.start(spec()).catch((e: unknown) => e);
    assert.ok(err instanceof ExternalToolError, String(err));
    assert.match(err.message, /start pvdify-shop-web@blue-1\.service failed: ActiveState=failed SubState=failed Result=exit-code/);
  });

  it('gives up waiting when the unit never becomes active', async () => {
    await stub.setBehaviour(unit, 'hang');
    const t0 = Date.now();
    const err = await sup.start(spec()).catch((e: unknown) => e);
    assert.ok(err instanceof ExternalToolError, String(err));
    assert.match(err.message, /did not become active: ActiveState=activating SubState=start/);
    assert.ok(Date.now() - t0 >= 350, 'waited for the start timeout');
  });

  it('refuses an invalid instance before touching files or systemctl', async () => {
    await assert.rejects(sup.start(spec({ app: '../../etc' })), InvalidInputError);
    await assert.rejects(sup.start(spec({ command: ['a\nb'] })), InvalidInputError);
    await assert.rejects(sup.start(spec({ image: '--privileged' })), InvalidInputError);
    await assert.rejects(sup.start(spec({ image: 'img with space' })), InvalidInputError);
    await assert.rejects(sup.stop({ app: 'shop', process: 'web', colour: 'blue', index: 99 }), InvalidInputError);
    assert.deepEqual(await stub.argvs(), []);
    assert.deepEqual(await readdir(unitDir), []);
  });

  it('asks for stats by container name', async () => {
    await sup.start(spec());
    await sup.start(spec({ colour: 'green', index: 2 }));
    const stats = await sup.stats('shop');
    assert.deepEqual(statsCalls, [['pvdify-shop-web-blue-1', 'pvdify-shop-web-green-2']]);
    assert.equal(stats.length, 2);
    assert.deepEqual(await sup.stats('nothing-here'), []);
  });

  it('reads the journal of the app’s current units, without podman bookkeeping', async () => {
    assert.deepEqual(await sup.logs('shop', { lines: 10 }), [], 'no instances, no lines');
    assert.deepEqual(journal.queries, []);
    await sup.start(spec());
    await sup.start(spec({ process: 'worker', hostPort: null }));
    await sup.start(spec({ app: 'shop-staging', hostPort: null }));

    const lines = await sup.logs('shop', { lines: 3 });
    assert.deepEqual(
      lines.map((l) => [l.source, l.message]),
      [
        ['pvdify-shop-web-blue-1', 'Error: image not known'],
        ['pvdify-shop-web-blue-1', 'GET /health 200'],
        ['pvdify-shop-web-blue-1', 'Started pvdify-shop-web@blue-1.service.'],
      ],
    );
    assert.deepEqual(Object.keys(lines[0]!).sort(), ['message', 'source', 'time']);
    await sup.logs('shop', { lines: 10, process: 'worker' });
    // A ref is read even when its unit is gone (a failed rollout's instance, already stopped).
    await sup.logs('shop', { lines: 10, ref: { app: 'shop', process: 'web', colour: 'green', index: 2 } });
    assert.deepEqual(journal.queries, [
      { units: [unit, 'pvdify-shop-worker@blue-1.service'], lines: 65 },
      { units: ['pvdify-shop-worker@blue-1.service'], lines: 100 },
      { units: ['pvdify-shop-web@green-2.service'], lines: 100 },
    ]);
    const all = await sup.logs('shop', { lines: 100 });
    assert.deepEqual(
      all.map((l) => l.message),
      ['listening on 3000', 'Error: image not known', 'GET /health 200', 'Started pvdify-shop-web@blue-1.service.'],
    );
  });
});
