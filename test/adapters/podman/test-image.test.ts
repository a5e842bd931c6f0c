/** The live-test image builder: cached by content, rebuilt (and the old image dropped) on change. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { buildTestImage } from '../../support/images/build-test-image.ts';
import { createIsolatedStore, type IsolatedStore } from '../../support/podman/isolated-store.ts';

describe('buildTestImage', () => {
  let store: IsolatedStore;
  before(async () => {
    store = await createIsolatedStore();
  });
  after(async () => {
    await store?.dispose();
  });

  const ids = async () =>
    (await execa('podman', ['images', '--quiet', '--no-trunc'], { env: store.env })).stdout.split('\n').filter(Boolean);

  it('reuses a tag with the same content and replaces one whose content changed', async () => {
    const first = await buildTestImage({ tag: 'localhost/cache-probe:1', body: 'one', env: store.env });
    const again = await buildTestImage({ tag: 'localhost/cache-probe:1', body: 'one', env: store.env });
    assert.equal(first.built, true);
    assert.equal(again.built, false);
    assert.equal(again.id, first.id);

    const changed = await buildTestImage({ tag: 'localhost/cache-probe:1', body: 'two', env: store.env });
    assert.equal(changed.built, true);
    assert.notEqual(changed.id, first.id);
    assert.deepEqual((await ids()).map((i) => i.replace(/^sha256:/, '')), [changed.id], 'old image removed');

    const cmd = await execa('podman', ['image', 'inspect', '--format', '{{json .Config.Cmd}}', changed.tag], { env: store.env });
    assert.match(cmd.stdout, /httpd -f -v -p/);
  });
});
