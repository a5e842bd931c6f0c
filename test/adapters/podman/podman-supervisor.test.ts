/**
 * The podman supervisor against real Podman: the shared contract, then what only a real
 * container shows (env file contents arriving, nothing secret on the command line, an unhealthy
 * image answering 404, the port check against a real container).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { PodmanCli } from '../../../src/adapters/podman/podman-cli.ts';
import { PodmanSupervisor } from '../../../src/adapters/podman/podman-supervisor.ts';
import { ConflictError } from '../../../src/core/errors.ts';
import type { InstanceSpec } from '../../../src/core/ports/runtime.ts';
import { buildTestImage } from '../../support/images/build-test-image.ts';
import { appContainers, removeAppContainers } from '../../support/podman/cleanup.ts';
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
    const inspect = await execa(
      'podman',
      ['container', 'inspect', '--format', '{{json .Config.CreateCommand}}', `pvdify-${app}-web-green-1`],
      { env: podmanTestEnv() },
    );
    const argv = JSON.parse(inspect.stdout) as string[];
    assert.ok(argv.includes('--env-file') && argv.includes(envFile));
    assert.ok(argv.includes('--restart=always') && argv.includes('--replace'));
    assert.ok(argv.includes(`127.0.0.1:${port}:3000`), 'published on loopback only');
    assert.ok(!argv.some((a) => a.includes('very secret value')), 'no config value in argv');
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
