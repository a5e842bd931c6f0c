import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeWithApps, methods, notOk, ok } from './harness.ts';

describe('releases', () => {
  it('lists newest first with the default limit of 10', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['releases', 'myapp']);
    assert.deepEqual(fake.calls, [{ method: 'releases.list', args: ['myapp', 10] }]);
    assert.deepEqual(reply.blocks[1], {
      type: 'table',
      columns: ['VERSION', 'DESCRIPTION', 'STATUS', 'BY', 'CREATED'],
      rows: [
        ['v2', 'Set config', 'succeeded', 'seed', '2024-05-10 12:00 UTC'],
        ['v1', 'Deploy ghcr.io/org/app:v1', 'succeeded', 'seed', '2024-05-10 12:00 UTC'],
      ],
      empty: 'myapp has no releases yet.',
    });
    const json = reply.json as { app: string; releases: Array<{ version: number }> };
    assert.deepEqual(json.releases.map((r) => r.version), [2, 1]);
  });

  it('passes --limit (and -a) through', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['releases', '-a', 'myapp', '--limit', '1']);
    assert.deepEqual(fake.calls, [{ method: 'releases.list', args: ['myapp', 1] }]);
    assert.equal((reply.json as { releases: unknown[] }).releases.length, 1);
  });
});

describe('releases:info', () => {
  it('accepts v2 and 2 and shows the release', async () => {
    const fake = fakeWithApps();
    const a = await ok(fake, ['releases:info', 'myapp', 'v2']);
    const b = await ok(fake, ['releases:info', 'myapp', '2']);
    assert.deepEqual(a, b);
    assert.deepEqual(methods(fake), ['releases.info', 'releases.info']);
    assert.deepEqual(fake.calls[0]?.args, ['myapp', 2]);
    assert.equal(a.auditRef, 'myapp v2');
    assert.deepEqual(a.blocks[0], { type: 'heading', text: 'myapp v2' });
    const record = a.blocks[1];
    assert.ok(record?.type === 'record');
    assert.deepEqual(record.fields.slice(0, 6), [
      { label: 'Version', value: 'v2' },
      { label: 'Kind', value: 'config' },
      { label: 'Status', value: 'succeeded' },
      { label: 'Description', value: 'Set config' },
      { label: 'Image', value: 'ghcr.io/org/app:v1' },
      { label: 'Config version', value: 'v1' },
    ]);
    assert.equal((a.json as { release: { version: number } }).release.version, 2);
  });

  it('reports a missing release as not found', async () => {
    const error = await notOk(fakeWithApps(), ['releases:info', 'myapp', 'v9']);
    assert.equal(error.code, 'not_found');
    assert.equal(error.message, 'myapp has no release v9');
  });
});
