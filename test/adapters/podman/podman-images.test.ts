/**
 * PodmanImages against real Podman and a real local registry. Pulls and prunes happen in a
 * private image store so that prune can only ever see this test's images; test images are
 * built (cached) in the normal store and reach the private one through the registry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { PodmanCli } from '../../../src/adapters/podman/podman-cli.ts';
import { PodmanImages } from '../../../src/adapters/podman/podman-images.ts';
import { ExternalToolError, InvalidInputError } from '../../../src/core/errors.ts';
import { buildTestImage } from '../../support/images/build-test-image.ts';
import { createIsolatedStore, type IsolatedStore } from '../../support/podman/isolated-store.ts';
import { pushImage, startRegistry, type TestRegistry } from '../../support/registry/registry.ts';

const AUTH = { username: 'deployer', password: 'correct-horse-battery' };

describe('PodmanImages (real podman, local registry)', () => {
  let open: TestRegistry;
  let locked: TestRegistry;
  let store: IsolatedStore;
  let images: PodmanImages;
  const ref = (r: TestRegistry, tag: string) => `${r.host}/pvdify/app:${tag}`;

  before(async () => {
    [open, locked, store] = await Promise.all([startRegistry(), startRegistry({ auth: AUTH }), createIsolatedStore()]);
    for (const v of ['v1', 'v2', 'v3', 'v4']) {
      const img = await buildTestImage({ tag: `localhost/pvdify-test-app:${v}`, body: `pvdify test app ${v}` });
      await pushImage(img.tag, ref(open, v));
    }
    await pushImage('localhost/pvdify-test-app:v1', ref(locked, 'v1'), { auth: AUTH });
    images = new PodmanImages({ cli: new PodmanCli({ env: store.env }) });
  });

  after(async () => {
    await Promise.allSettled([open?.stop(), locked?.stop()]);
    await store?.dispose();
  });

  it('pulls by registry reference (plain HTTP for loopback) and then knows the image', async () => {
    assert.equal(await images.exists(ref(open, 'v1')), false);
    await images.pull(ref(open, 'v1'));
    assert.equal(await images.exists(ref(open, 'v1')), true);
    const listed = await images.list();
    const info = listed.find((i) => i.names.includes(ref(open, 'v1')));
    assert.ok(info, 'listed by its reference');
    assert.ok(info.sizeBytes > 1_000_000 && info.id.length === 64 && info.created !== null);
    await images.pull(ref(open, 'v1'), { always: true });
  });

  it('pulls from a registry that needs credentials, and says why when they are missing or wrong', async () => {
    await assert.rejects(images.pull(ref(locked, 'v1')), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.equal(e.message, `could not pull ${ref(locked, 'v1')}: unauthorized: authentication required`);
      return true;
    });
    await assert.rejects(images.pull(ref(locked, 'v1'), { auth: { ...AUTH, password: 'wrong-password-x' } }), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.match(e.message, /unauthorized/);
      assert.ok(!e.message.includes('wrong-password-x'));
      return true;
    });
    await images.pull(ref(locked, 'v1'), { auth: AUTH });
    assert.equal(await images.exists(ref(locked, 'v1')), true);
  });

  it('reports a missing image with a clear message', async () => {
    await assert.rejects(images.pull(ref(open, 'does-not-exist')), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.equal(e.code, 'external_tool');
      assert.equal(e.message, `could not pull ${ref(open, 'does-not-exist')}: manifest unknown`);
      return true;
    });
    await assert.rejects(images.pull('-v /:/host'), InvalidInputError);
  });

  it('prunes only old, unkept images that no container uses', async () => {
    for (const v of ['v2', 'v3', 'v4']) await images.pull(ref(open, v));
    // A stopped container still holds its image.
    await execa('podman', ['create', '--name', 'pvdify-prune-user', ref(open, 'v4')], { env: store.env });

    const nothingYet = await new PodmanImages({
      cli: new PodmanCli({ env: store.env }),
      clock: { now: () => new Date('2001-01-01T00:00:00Z') },
    }).prune({ until: '168h', keep: [] });
    assert.deepEqual(nothingYet, { removed: [], reclaimedBytes: 0 }, 'nothing is a week older than 2001');

    const before = await images.list();
    const sizeOf = (r: string) => before.find((i) => i.names.includes(r))?.sizeBytes ?? -1;
    // v1 is kept twice over: by its open-registry name and, being the same image, its locked one.
    const result = await images.prune({ until: '0s', keep: [ref(open, 'v1'), ref(open, 'v3')] });

    assert.deepEqual(result.removed, [ref(open, 'v2')]);
    assert.equal(result.reclaimedBytes, sizeOf(ref(open, 'v2')));
    const left = (await images.list()).flatMap((i) => i.names).sort();
    assert.deepEqual(left, [ref(open, 'v1'), ref(open, 'v3'), ref(open, 'v4'), ref(locked, 'v1')].sort());

    await execa('podman', ['rm', 'pvdify-prune-user'], { env: store.env });
    const second = await images.prune({ until: '0s', keep: [ref(open, 'v1')] });
    assert.deepEqual(second.removed.sort(), [ref(open, 'v3'), ref(open, 'v4')].sort());
    await assert.rejects(images.prune({ until: 'last tuesday', keep: [] }), InvalidInputError);
  });
});
