import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeImages } from '../../../src/adapters/podman/fake-images.ts';
import { FakeSupervisor } from '../../../src/adapters/podman/fake-supervisor.ts';
import { ExternalToolError, InvalidInputError } from '../../../src/core/errors.ts';

describe('FakeImages', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const clock = { now: () => now };

  it('pulls once unless asked to pull always, and records the calls without passwords', async () => {
    const images = new FakeImages({ clock });
    await images.pull('ghcr.io/acme/shop:1', { auth: { username: 'bot', password: 'p4ss' } });
    await images.pull('ghcr.io/acme/shop:1');
    await images.pull('ghcr.io/acme/shop:1', { always: true });
    assert.deepEqual(images.pulled, ['ghcr.io/acme/shop:1', 'ghcr.io/acme/shop:1']);
    assert.equal(await images.exists('ghcr.io/acme/shop:1'), true);
    assert.equal(await images.exists('ghcr.io/acme/shop:2'), false);
    assert.ok(!JSON.stringify(images.calls).includes('p4ss'));
    assert.deepEqual(images.calls[0], { method: 'pull', image: 'ghcr.io/acme/shop:1', always: false, authUser: 'bot' });
  });

  it('fails a pull of an image told to fail, like podman does', async () => {
    const images = new FakeImages({ clock });
    images.failPull('ghcr.io/acme/shop:9');
    await assert.rejects(images.pull('ghcr.io/acme/shop:9'), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.equal(e.message, 'could not pull ghcr.io/acme/shop:9: manifest unknown');
      return true;
    });
    assert.equal(await images.exists('ghcr.io/acme/shop:9'), false);
    await assert.rejects(images.pull('--all'), InvalidInputError);
  });

  it('prunes old images except the kept ones and those containers use', async () => {
    const sup = new FakeSupervisor({ clock });
    const images = new FakeImages({ clock, inUse: () => sup.imagesInUse() });
    const old = new Date('2026-05-01T00:00:00Z');
    images.add('ghcr.io/acme/shop:1', { created: old, sizeBytes: 100 });
    images.add('ghcr.io/acme/shop:2', { created: old, sizeBytes: 200 });
    images.add('ghcr.io/acme/shop:3', { created: old, sizeBytes: 300 });
    images.add('ghcr.io/acme/shop:4', { sizeBytes: 400 });
    await sup.start({
      app: 'shop', process: 'web', colour: 'blue', index: 1, image: 'ghcr.io/acme/shop:3',
      command: null, hostPort: null, envFile: '/run/shop.env', memory: null, cpu: null, release: 3,
    });
    const result = await images.prune({ until: '168h', keep: ['ghcr.io/acme/shop:1'] });
    assert.deepEqual(result, { removed: ['ghcr.io/acme/shop:2'], reclaimedBytes: 200 });
    assert.deepEqual((await images.list()).map((i) => i.names[0]), [
      'ghcr.io/acme/shop:1',
      'ghcr.io/acme/shop:3',
      'ghcr.io/acme/shop:4',
    ]);
  });
});
