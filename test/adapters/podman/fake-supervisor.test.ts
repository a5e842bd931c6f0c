import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { FakeSupervisor } from '../../../src/adapters/podman/fake-supervisor.ts';
import { ExternalToolError } from '../../../src/core/errors.ts';
import type { InstanceSpec } from '../../../src/core/ports/runtime.ts';
import { get, waitForStatus } from '../../support/podman/http.ts';
import { freePort } from '../../support/podman/ports.ts';
import { supervisorContract } from './supervisor-contract.ts';

supervisorContract('fake', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pvdify-fake-sup-'));
  const envFile = join(dir, 'app.env');
  await writeFile(envFile, 'GREETING=hi\n', { mode: 0o600 });
  const supervisor = new FakeSupervisor({ serveHttp: true });
  return {
    supervisor,
    image: { ref: 'registry.example/team/app:v1', body: 'registry.example/team/app:v1' },
    image2: { ref: 'registry.example/team/app:v2', body: 'registry.example/team/app:v2' },
    envFile,
    workerCommand: ['worker', '--loop'],
    async dispose() {
      await supervisor.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('FakeSupervisor extras', () => {
  const sup = new FakeSupervisor({ serveHttp: true });
  after(() => sup.close());
  const spec = (over: Partial<InstanceSpec>): InstanceSpec => ({
    app: 'shop',
    process: 'web',
    colour: 'green',
    index: 1,
    image: 'ghcr.io/acme/shop:1',
    command: null,
    hostPort: null,
    envFile: '/run/pvdify/shop.env',
    memory: null,
    cpu: null,
    release: 3,
    ...over,
  });

  it('answers /health with the status set for the image and records calls', async () => {
    const port = await freePort();
    sup.setHealth('ghcr.io/acme/shop:bad', 503);
    await sup.start(spec({ hostPort: port, image: 'ghcr.io/acme/shop:bad' }));
    assert.equal((await get(port, '/health')).status, 503);
    sup.setHealth('ghcr.io/acme/shop:bad', 200);
    assert.equal((await get(port, '/health')).status, 200);
    assert.equal((await get(port, '/nope')).status, 404);
    await sup.stop(spec({}));
    assert.deepEqual(
      sup.calls.map((c) => c.method),
      ['start', 'stop'],
    );
  });

  it('fails start for an image told to fail, leaving nothing behind', async () => {
    sup.failStart('ghcr.io/acme/shop:broken', 'exec format error');
    await assert.rejects(sup.start(spec({ image: 'ghcr.io/acme/shop:broken', index: 2 })), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.equal(e.message, 'could not start pvdify-shop-web-green-2: exec format error');
      return true;
    });
    assert.equal((await sup.list('shop')).length, 0);
    sup.clearFailures();
  });

  it('simulates a crash: the instance is failed and its port closes', async () => {
    const port = await freePort();
    const s = spec({ hostPort: port, index: 3 });
    await sup.start(s);
    await waitForStatus(port, '/health', 200);
    await sup.crash(s, 'segfault');
    assert.equal((await sup.list('shop'))[0]?.state, 'failed');
    assert.equal((await get(port, '/health')).status, 0);
    const logs = await sup.logs('shop', { lines: 1 });
    assert.deepEqual(logs.map((l) => l.message), ['segfault']);
    assert.deepEqual(sup.imagesInUse(), ['ghcr.io/acme/shop:1']);
    await sup.stop(s);
  });

  it('refuses a port held by another of its instances even without HTTP serving', async () => {
    const quiet = new FakeSupervisor();
    const port = await freePort();
    await quiet.start(spec({ hostPort: port, index: 1 }));
    await assert.rejects(quiet.start(spec({ hostPort: port, index: 2 })), /port \d+ on 127\.0\.0\.1 is already in use/);
    await quiet.start(spec({ hostPort: port, index: 1, release: 4 }));
    assert.equal(quiet.specOf(spec({ index: 1 }))?.release, 4);
  });
});
