/**
 * The behaviour every Supervisor must show, run against the fake (fake-supervisor.test.ts) and
 * against real Podman (podman-supervisor.test.ts). Instances really serve HTTP in both, so the
 * checks go through sockets, not through the implementation's own bookkeeping.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { ConflictError, InvalidInputError, NotFoundError } from '../../../src/core/errors.ts';
import type { InstanceRef, InstanceSpec, Supervisor } from '../../../src/core/ports/runtime.ts';
import { isPortFree } from '../../../src/adapters/podman/instance-spec.ts';
import { eventually, get, waitForStatus } from '../../support/podman/http.ts';
import { freePort } from '../../support/podman/ports.ts';

export interface SupervisorHarness {
  supervisor: Supervisor;
  /** An image whose `/health` answers 200 and whose `/` contains `body`. */
  image: { ref: string; body: string };
  /** A second such image, for "a new release replaces the instance". */
  image2: { ref: string; body: string };
  /** Absolute path of an env file (mode 0600). */
  envFile: string;
  /** argv of a worker process that keeps running and can be stopped promptly. */
  workerCommand: string[];
  /** Releases everything, including whatever is left of the apps the suite used. */
  dispose(apps: string[]): Promise<void>;
}

/** Unique app names, so parallel runs and leftovers of earlier runs cannot interfere. */
function appName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function supervisorContract(label: string, setup: () => Promise<SupervisorHarness>): void {
  describe(`Supervisor contract: ${label}`, () => {
    let h: SupervisorHarness;
    let sup: Supervisor;
    const app = appName('ct');
    const otherApp = appName('ct-other');

    const spec = (over: Partial<InstanceSpec> & Pick<InstanceSpec, 'index'>): InstanceSpec => ({
      app,
      process: 'web',
      colour: 'blue',
      image: h.image.ref,
      command: null,
      hostPort: null,
      envFile: h.envFile,
      memory: null,
      cpu: null,
      release: 1,
      ...over,
    });
    const ref = (s: InstanceRef): InstanceRef => ({ app: s.app, process: s.process, colour: s.colour, index: s.index });

    before(async () => {
      h = await setup();
      sup = h.supervisor;
    });

    afterEach(async () => {
      for (const a of [app, otherApp]) {
        for (const i of await sup.list(a)) await sup.stop(ref(i));
      }
    });

    after(async () => {
      await h?.dispose([app, otherApp]);
    });

    it('starts two web instances that serve on their host ports and lists them', async () => {
      const ports = [await freePort(), await freePort()];
      for (const [n, port] of ports.entries()) {
        await sup.start(spec({ index: n + 1, hostPort: port }));
      }
      for (const port of ports) {
        assert.equal((await waitForStatus(port, '/health', 200)).status, 200);
        const root = await get(port, '/');
        assert.equal(root.status, 200);
        assert.match(root.body, new RegExp(h.image.body.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      }
      const listed = await sup.list(app);
      assert.deepEqual(
        listed.map((i) => [i.name, i.process, i.colour, i.index, i.hostPort, i.release, i.state]),
        [
          [`pvdify-${app}-web-blue-1`, 'web', 'blue', 1, ports[0], 1, 'running'],
          [`pvdify-${app}-web-blue-2`, 'web', 'blue', 2, ports[1], 1, 'running'],
        ],
      );
      for (const i of listed) {
        assert.equal(i.app, app);
        assert.ok(i.image?.endsWith(h.image.ref.replace(/^localhost\//, '')), `image ${String(i.image)}`);
        assert.ok(i.since && Number.isFinite(Date.parse(i.since)), 'since is a timestamp');
      }
    });

    it('lists one app without the others, and every app when none is named', async () => {
      await sup.start(spec({ index: 1, process: 'worker', command: h.workerCommand }));
      await sup.start(spec({ app: otherApp, index: 1, process: 'worker', command: h.workerCommand }));
      assert.deepEqual((await sup.list(app)).map((i) => i.app), [app]);
      assert.deepEqual((await sup.list(otherApp)).map((i) => i.app), [otherApp]);
      const all = (await sup.list()).map((i) => i.name);
      assert.ok(all.includes(`pvdify-${app}-worker-blue-1`) && all.includes(`pvdify-${otherApp}-worker-blue-1`));
    });

    it('merges logs of all instances in time order and filters them by process and instance', async () => {
      const port = await freePort();
      await sup.start(spec({ index: 1, hostPort: port }));
      await sup.start(spec({ index: 1, process: 'worker', command: h.workerCommand }));
      await waitForStatus(port, '/health', 200);
      await get(port, '/');
      const web = `pvdify-${app}-web-blue-1`;
      const worker = `pvdify-${app}-worker-blue-1`;

      const lines = await eventually(
        () => sup.logs(app, { lines: 100 }),
        (l) => new Set(l.map((x) => x.source)).size === 2,
      );
      assert.deepEqual(new Set(lines.map((l) => l.source)), new Set([web, worker]));
      const times = lines.map((l) => l.time);
      assert.ok(times.every((t) => t !== null && Number.isFinite(Date.parse(t))), 'every line has a time');
      const sorted = [...times].sort((a, b) => Date.parse(a ?? '') - Date.parse(b ?? ''));
      assert.deepEqual(times, sorted, 'oldest first');

      const workerOnly = await sup.logs(app, { lines: 100, process: 'worker' });
      assert.ok(workerOnly.length > 0);
      assert.ok(workerOnly.every((l) => l.source === worker));
      const one = await sup.logs(app, { lines: 100, ref: { app, process: 'web', colour: 'blue', index: 1 } });
      assert.ok(one.length > 0 && one.every((l) => l.source === web));
      assert.deepEqual(await sup.logs(app, { lines: 1 }), lines.slice(-1), 'the newest line');
    });

    it('reports stats for running instances', async () => {
      await sup.start(spec({ index: 1, hostPort: await freePort(), memory: '64M' }));
      await sup.start(spec({ index: 2, process: 'worker', command: h.workerCommand }));
      const stats = await sup.stats(app);
      assert.deepEqual(stats.map((s) => s.name).sort(), [`pvdify-${app}-web-blue-1`, `pvdify-${app}-worker-blue-2`]);
      const web = stats.find((s) => s.name.includes('-web-'));
      assert.ok(web?.memoryLimitBytes && Math.abs(web.memoryLimitBytes - 64 * 1024 * 1024) < 1024 * 1024, 'memory limit applied');
      assert.deepEqual(await sup.stats(otherApp), []);
    });

    it('restarts an instance, which serves again afterwards', async () => {
      const port = await freePort();
      const s = spec({ index: 1, hostPort: port });
      await sup.start(s);
      await waitForStatus(port, '/health', 200);
      await sup.restart(ref(s));
      assert.equal((await waitForStatus(port, '/health', 200)).status, 200);
      const [listed] = await sup.list(app);
      assert.equal(listed?.state, 'running');
      await assert.rejects(sup.restart({ ...ref(s), index: 7 }), NotFoundError);
    });

    it('replaces an instance started again with a new release on the same port', async () => {
      const port = await freePort();
      await sup.start(spec({ index: 1, hostPort: port }));
      await waitForStatus(port, '/health', 200);
      await sup.start(spec({ index: 1, hostPort: port, image: h.image2.ref, release: 2 }));
      const answer = await eventually(
        () => get(port, '/'),
        (a) => a.body.includes(h.image2.body),
      );
      assert.match(answer.body, new RegExp(h.image2.body));
      const listed = await sup.list(app);
      assert.deepEqual(listed.map((i) => [i.index, i.release, i.hostPort]), [[1, 2, port]]);
    });

    it('stops idempotently and forgets the instance; syncSlots frees its port', async () => {
      const port = await freePort();
      const s = spec({ index: 1, hostPort: port });
      await sup.start(s);
      await waitForStatus(port, '/health', 200);
      await sup.stop(ref(s));
      await sup.stop(ref(s));
      await sup.stop({ ...ref(s), index: 9 });
      assert.deepEqual(await sup.list(app), []);
      // Nothing answers there any more, whether or not the slot still holds the port.
      assert.equal((await get(port, '/health')).status, 0);
      await sup.syncSlots(app, []);
      await sup.syncSlots(app, []);
      assert.equal(await eventually(() => isPortFree(port), (free) => free), true);
    });

    it('refuses a host port that another process listens on, naming the port', async () => {
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
      const address = blocker.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      try {
        await assert.rejects(sup.start(spec({ index: 1, hostPort: port })), (e: unknown) => {
          assert.ok(e instanceof ConflictError);
          assert.match(e.message, new RegExp(`port ${port}\\b`));
          return true;
        });
        assert.deepEqual(await sup.list(app), []);
      } finally {
        await new Promise((resolve) => blocker.close(resolve));
      }
    });

    it('refuses names that could not become a container name, before running anything', async () => {
      await assert.rejects(sup.start(spec({ index: 1, app: 'Bad Name' })), InvalidInputError);
      await assert.rejects(sup.start(spec({ index: 1, process: '--rm' })), InvalidInputError);
      await assert.rejects(sup.start(spec({ index: 1, image: '--privileged' })), InvalidInputError);
      await assert.rejects(sup.stop({ app: 'x/../y', process: 'web', colour: 'blue', index: 1 }), InvalidInputError);
      assert.deepEqual(await sup.list(app), []);
    });
  });
}
