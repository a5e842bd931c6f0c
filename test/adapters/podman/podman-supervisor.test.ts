/**
 * The podman supervisor against real Podman: the shared contract, then what only a real
 * container shows (env file contents arriving, nothing secret on the command line, an unhealthy
 * image answering 404, the port check against a real container, the network pods that keep a
 * web slot's port between releases).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { PodmanCli } from '../../../src/adapters/podman/podman-cli.ts';
import { PodmanSupervisor } from '../../../src/adapters/podman/podman-supervisor.ts';
import { startPodmanService } from '../../../src/adapters/podman/podman-service.ts';
import { ConflictError, ExternalToolError } from '../../../src/core/errors.ts';
import { isPortFree, networkPodName } from '../../../src/adapters/podman/instance-spec.ts';
import type { InstanceSpec } from '../../../src/core/ports/runtime.ts';
import { buildTestImage } from '../../support/images/build-test-image.ts';
import { appContainers, createCommandOf, removeAppContainers } from '../../support/podman/cleanup.ts';
import { podmanTestEnv } from '../../support/podman/env.ts';
import { eventually, get, waitForStatus } from '../../support/podman/http.ts';
import { freePort } from '../../support/podman/ports.ts';
import { supervisorContract } from './supervisor-contract.ts';

const WORKER = ['sh', '-c', 'trap "exit 0" TERM; echo worker-ready; while true; do sleep 1; done'];

async function images() {
  const v1 = await buildTestImage({ tag: 'localhost/pvdify-test-app:v1', body: 'pvdify test app v1' });
  const v2 = await buildTestImage({ tag: 'localhost/pvdify-test-app:v2', body: 'pvdify test app v2' });
  const sick = await buildTestImage({ tag: 'localhost/pvdify-test-app:sick', body: 'sick', healthy: false });
  return { v1, v2, sick };
}

supervisorContract('podman', async () => {
  const { v1, v2 } = await images();
  const dir = await mkdtemp(join(tmpdir(), 'pvdify-podman-sup-'));
  const envFile = join(dir, 'app.env');
  await writeFile(envFile, 'GREETING=contract\n', { mode: 0o600 });
  return {
    supervisor: new PodmanSupervisor({ cli: new PodmanCli({ env: podmanTestEnv() }) }),
    image: { ref: v1.tag, body: 'pvdify test app v1' },
    image2: { ref: v2.tag, body: 'pvdify test app v2' },
    envFile,
    workerCommand: WORKER,
    async dispose(apps) {
      await removeAppContainers(apps);
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// The same contract with containers started through podman's REST API (as pvdifyd does).
supervisorContract('podman, through the REST API', async () => {
  const { v1, v2 } = await images();
  const dir = await mkdtemp(join(tmpdir(), 'pvdify-podman-api-sup-'));
  const envFile = join(dir, 'app.env');
  await writeFile(envFile, 'GREETING=contract\n', { mode: 0o600 });
  const service = await startPodmanService({ socketPath: join(dir, 'podman.sock'), env: podmanTestEnv() });
  return {
    supervisor: new PodmanSupervisor({ cli: new PodmanCli({ env: podmanTestEnv() }), api: service.api }),
    image: { ref: v1.tag, body: 'pvdify test app v1' },
    image2: { ref: v2.tag, body: 'pvdify test app v2' },
    envFile,
    workerCommand: WORKER,
    async dispose(apps) {
      try {
        assert.equal(service.alive(), true, 'the service served the whole contract');
      } finally {
        await service.stop();
        await removeAppContainers(apps);
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
});

describe('PodmanSupervisor with real containers', () => {
  const app = `live-${randomBytes(4).toString('hex')}`;
  const sup = new PodmanSupervisor({ cli: new PodmanCli({ env: podmanTestEnv() }) });
  let dir = '';
  let envFile = '';
  let tags: Awaited<ReturnType<typeof images>>;
  const spec = (over: Partial<InstanceSpec>): InstanceSpec => ({
    app,
    process: 'web',
    colour: 'green',
    index: 1,
    image: tags.v1.tag,
    command: null,
    hostPort: null,
    envFile,
    memory: null,
    cpu: null,
    release: 1,
    ...over,
  });

  before(async () => {
    tags = await images();
    dir = await mkdtemp(join(tmpdir(), 'pvdify-podman-live-'));
    envFile = join(dir, 'app.env');
    await writeFile(envFile, 'GREETING=very secret value\n', { mode: 0o600 });
  });

  after(async () => {
    await removeAppContainers([app]);
    assert.deepEqual(await appContainers([app]), []);
    await rm(dir, { recursive: true, force: true });
  });

  it('passes config through the env file and PORT=3000, and keeps values off the command line', async () => {
    const port = await freePort();
    await sup.start(spec({ hostPort: port, cpu: 0.5 }));
    const env = await waitForStatus(port, '/cgi-bin/env', 200);
    assert.match(env.body, /^PORT=3000$/m);
    assert.match(env.body, /^GREETING=very secret value$/m);
    const argv = await createCommandOf(`pvdify-${app}-web-green-1`);
    assert.ok(argv.includes('--env-file') && argv.includes(envFile));
    assert.ok(argv.includes('--restart=always') && argv.includes('--replace'));
    assert.ok(!argv.some((a) => a.includes('very secret value')), 'no config value in argv');
    // The port is published by the slot's network pod, on loopback only.
    const pod = await execa('podman', ['pod', 'inspect', networkPodName(spec({}), port)], { env: podmanTestEnv() });
    const bindings = (JSON.parse(pod.stdout) as { InfraConfig: { PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> } }).InfraConfig
      .PortBindings;
    assert.deepEqual(bindings, { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    await sup.stop(spec({}));
  });

  it('runs an image without /health, which answers 404 there', async () => {
    const port = await freePort();
    await sup.start(spec({ hostPort: port, image: tags.sick.tag, index: 2 }));
    assert.equal((await waitForStatus(port, '/', 200)).status, 200);
    assert.equal((await get(port, '/health')).status, 404);
    await sup.stop(spec({ index: 2 }));
  });

  it('refuses a port published by another container, but not one its own previous container holds', async () => {
    const port = await freePort();
    await sup.start(spec({ hostPort: port, index: 1, colour: 'blue' }));
    await assert.rejects(sup.start(spec({ hostPort: port, index: 2, colour: 'blue' })), (e: unknown) => {
      assert.ok(e instanceof ConflictError);
      assert.match(e.message, new RegExp(`^port ${port} on 127\\.0\\.0\\.1 is already in use`));
      return true;
    });
    await sup.start(spec({ hostPort: port, index: 1, colour: 'blue', release: 2 }));
    assert.equal((await waitForStatus(port, '/health', 200)).status, 200);
    assert.deepEqual((await sup.list(app)).map((i) => [i.name, i.release]), [[`pvdify-${app}-web-blue-1`, 2]]);
    await sup.stop(spec({ index: 1, colour: 'blue' }));
  });

  it('keeps a web slot’s network pod between releases and frees it with syncSlots', async () => {
    const port = await freePort();
    const slotPod = networkPodName(spec({ index: 3, colour: 'blue' }), port);
    const podIds = async () =>
      (await new PodmanCli({ env: podmanTestEnv() }).pods({ labels: [`pvdify.app=${app}`] })).filter((p) => p.name === slotPod).map((p) => `${p.name} ${p.id}`);
    await sup.start(spec({ hostPort: port, index: 3, colour: 'blue' }));
    const first = await podIds();
    assert.equal(first.length, 1);
    await sup.stop(spec({ index: 3, colour: 'blue' }));
    assert.deepEqual(await sup.list(app), [], 'the pod’s infra container is not an instance');
    await sup.start(spec({ hostPort: port, index: 3, colour: 'blue', image: tags.v2.tag, release: 2 }));
    assert.equal((await waitForStatus(port, '/', 200)).body.trim(), 'pvdify test app v2');
    assert.deepEqual(await podIds(), first, 'the second release joined the same pod');
    assert.deepEqual((await sup.list(app)).map((i) => [i.name, i.hostPort]), [[`pvdify-${app}-web-blue-3`, port]]);
    await sup.stop(spec({ index: 3, colour: 'blue' }));
    await sup.syncSlots(app, [{ process: 'web', colour: 'blue', index: 3, hostPort: port }]);
    assert.deepEqual(await podIds(), first, 'a kept slot keeps its pod');
    assert.deepEqual(
      (await new PodmanCli({ env: podmanTestEnv() }).pods({ labels: [`pvdify.app=${app}`] })).map((p) => p.name),
      [slotPod],
      'the pods of the other slots are gone',
    );
    await sup.syncSlots(app, []);
    assert.deepEqual(await podIds(), []);
    assert.ok(await isPortFree(port), 'the port is free again');
  });

  it('syncSlots sets up a missing slot with its network running, and refuses a port someone else holds', async () => {
    const cli = new PodmanCli({ env: podmanTestEnv() });
    const port = await freePort();
    const slot = { process: 'web', colour: 'green' as const, index: 6, hostPort: port };
    await sup.syncSlots(app, [slot]);
    const infra = await cli.ps({ names: [`${networkPodName({ app, ...slot }, port)}-infra`] });
    assert.deepEqual(infra.map((c) => [c.isInfra, c.state]), [[true, 'running']], 'the pod is started, not only created');
    assert.equal(await isPortFree(port), false, 'the slot holds its port');
    await sup.syncSlots(app, [slot]);
    assert.equal((await cli.pods({ labels: [`pvdify.app=${app}`] })).filter((p) => p.name.includes('-web-green-6-')).length, 1, 'idempotent');

    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const taken = (blocker.address() as AddressInfo).port;
    try {
      await assert.rejects(sup.syncSlots(app, [slot, { ...slot, index: 7, hostPort: taken }]), (e: unknown) => {
        assert.ok(e instanceof ConflictError);
        assert.match(e.message, new RegExp(`port ${taken}\\b`));
        return true;
      });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    await sup.syncSlots(app, []);
    assert.deepEqual(await cli.pods({ labels: [`pvdify.app=${app}`, 'pvdify.network-pod'] }), []);
  });

  it('replaces a container that published the slot’s port itself (started before network pods)', async () => {
    const port = await freePort();
    const cli = new PodmanCli({ env: podmanTestEnv() });
    const s = spec({ hostPort: port, index: 4 });
    await cli.run({ name: `pvdify-${app}-web-green-4`, image: tags.v1.tag, labels: { 'pvdify.app': app }, publish: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 3000 }], publicEnv: { PORT: '3000' } });
    await sup.start({ ...s, image: tags.v2.tag });
    assert.equal((await waitForStatus(port, '/', 200)).body.trim(), 'pvdify test app v2');
    await sup.stop(s);
    await sup.syncSlots(app, []);
  });

  it('publishes the port from the instance itself with networkPods off (router none)', async () => {
    const port = await freePort();
    const direct = new PodmanSupervisor({ cli: new PodmanCli({ env: podmanTestEnv() }), networkPods: false });
    const s = spec({ hostPort: port, index: 5 });
    await direct.start(s);
    assert.equal((await waitForStatus(port, '/health', 200)).status, 200);
    assert.deepEqual(await direct.list(app).then((l) => l.map((i) => i.hostPort)), [port]);
    assert.deepEqual(await new PodmanCli({ env: podmanTestEnv() }).pods({ labels: [`pvdify.app=${app}`] }), []);
    await direct.stop(s);
    assert.ok(await isPortFree(port), 'nothing holds the port after stop');
  });

  it('starts through the REST API while its service answers, through the CLI once it is gone', async () => {
    const service = await startPodmanService({ socketPath: join(dir, 'podman.sock'), env: podmanTestEnv() });
    const viaApi = new PodmanSupervisor({ cli: new PodmanCli({ env: podmanTestEnv() }), api: service.api });
    const port = await freePort();
    const s = spec({ hostPort: port, index: 8 });
    try {
      await viaApi.start(s);
      assert.equal((await waitForStatus(port, '/health', 200)).status, 200);
      assert.deepEqual(await createCommandOf(`pvdify-${app}-web-green-8`), [], 'started through the API');
    } finally {
      await service.stop();
    }
    await viaApi.start({ ...s, release: 2 });
    assert.equal((await waitForStatus(port, '/health', 200)).status, 200);
    assert.ok((await createCommandOf(`pvdify-${app}-web-green-8`)).includes('--replace'), 'started by the CLI');
    await viaApi.stop(s);
    await viaApi.syncSlots(app, []);
  });

  it('publishes the port from the instance itself when its network pod cannot be set up', async () => {
    class NoPods extends PodmanCli {
      override async podCreate(): Promise<string> {
        throw new ExternalToolError('podman', 'could not create pod: creating cgroup path for net_cls: read-only file system');
      }
    }
    const withoutPods = new PodmanSupervisor({ cli: new NoPods({ env: podmanTestEnv() }) });
    const port = await freePort();
    const s = spec({ hostPort: port, index: 9 });
    await withoutPods.start(s);
    assert.equal((await waitForStatus(port, '/health', 200)).status, 200);
    assert.deepEqual((await withoutPods.list(app)).map((i) => [i.name, i.hostPort]), [[`pvdify-${app}-web-green-9`, port]]);
    await withoutPods.stop(s);
    assert.ok(await isPortFree(port), 'nothing holds the port after stop');
  });

  it('shows a crashing instance as failed or restarting, with its last log line', async () => {
    const s = spec({ process: 'job', index: 1, command: ['sh', '-c', 'echo "boom: missing DATABASE_URL"; exit 3'] });
    await sup.start(s);
    const logs = await eventually(
      () => sup.logs(app, { lines: 5, process: 'job' }),
      (l) => l.length > 0,
    );
    assert.equal(logs.at(-1)?.message, 'boom: missing DATABASE_URL');
    assert.equal(logs.at(-1)?.source, `pvdify-${app}-job-green-1`);
    // --restart=always brings it back at once, so catch it between runs or count the restarts.
    const [state] = await eventually(
      () => sup.list(app),
      ([i]) => i !== undefined && (i.state === 'failed' || i.restarts > 0),
    );
    assert.ok(state && (state.state === 'failed' || state.restarts > 0), `state ${state?.state}, ${state?.restarts} restarts`);
    await sup.stop(s);
    assert.deepEqual(await sup.list(app), []);
  });
});
