import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeServices } from '../support/fake-services.ts';
import { NOW, fakeWithApps, methods, notOk, ok } from './harness.ts';

describe('apps', () => {
  it('lists apps as a table with the slots as JSON', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['apps']);
    assert.deepEqual(reply.blocks, [
      {
        type: 'table',
        columns: ['NAME', 'ENVIRONMENT', 'STATUS', 'RELEASE', 'IMAGE'],
        rows: [
          ['myapp', 'production', 'running', 'v2', 'ghcr.io/org/app:v1'],
          ['myapp-staging', 'staging', 'created', '-', '-'],
        ],
        empty: 'No apps yet. Create one with `apps:create NAME`.',
      },
    ]);
    const json = reply.json as { apps: Array<{ name: string; bind_port: number }> };
    assert.deepEqual(json.apps.map((a) => [a.name, a.bind_port]), [
      ['myapp', 3000],
      ['myapp-staging', 3001],
    ]);
    assert.deepEqual(methods(fake), ['apps.list']);
  });

  it('says how to start when there are no apps', async () => {
    const reply = await ok(createFakeServices(), ['apps']);
    assert.equal(reply.blocks[0]?.type === 'table' && reply.blocks[0].rows.length, 0);
  });
});

describe('apps:create', () => {
  it('defaults the environment from the name', async () => {
    const fake = createFakeServices({ now: () => NOW });
    await ok(fake, ['apps:create', 'shop']);
    await ok(fake, ['apps:create', 'shop-staging']);
    await ok(fake, ['apps:create', 'shop-pr-12']);
    assert.deepEqual(
      fake.calls.map((c) => c.args.slice(0, 2)),
      [
        ['shop', 'production'],
        ['shop-staging', 'staging'],
        ['shop-pr-12', 'preview'],
      ],
    );
  });

  it('passes --env and replies with the slot', async () => {
    const fake = createFakeServices({ now: () => NOW });
    const reply = await ok(fake, ['apps:create', 'shop', '--env', 'staging']);
    assert.deepEqual(fake.calls[0], { method: 'apps.create', args: ['shop', 'staging', 'cli:alice'] });
    assert.equal(reply.app, 'shop');
    assert.equal(reply.auditRef, 'shop');
    assert.deepEqual(reply.blocks[1], {
      type: 'record',
      fields: [
        { label: 'Name', value: 'shop' },
        { label: 'Environment', value: 'staging' },
        { label: 'Router port', value: '3000' },
        { label: 'Status', value: 'created' },
      ],
    });
    assert.equal((reply.json as { app: { name: string } }).app.name, 'shop');
  });

  it('reports a taken name as a conflict', async () => {
    const error = await notOk(fakeWithApps(), ['apps:create', 'myapp']);
    assert.equal(error.code, 'conflict');
  });

  it('refuses a bad name before calling the service', async () => {
    const fake = createFakeServices();
    await notOk(fake, ['apps:create', 'My/App']);
    assert.deepEqual(fake.calls, []);
  });
});

describe('apps:info', () => {
  it('shows the app, its latest release, domains and config keys (never values)', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['apps:info', 'myapp']);
    const record = reply.blocks[1];
    assert.equal(record?.type, 'record');
    if (record?.type !== 'record') return;
    const fields = Object.fromEntries(record.fields.map((f) => [f.label, f.value]));
    assert.equal(fields.Environment, 'production');
    assert.equal(fields['Current release'], 'v2');
    assert.equal(fields['Latest release'], 'v2 succeeded: Set config (seed, 2024-05-10 12:00 UTC)');
    assert.equal(fields.Domains, 'www.example.com (active)');
    assert.equal(fields['Config keys'], 'API_KEY, DATABASE_URL');
    assert.equal(fields.Processes, 'web=1');
    assert.doesNotMatch(JSON.stringify(reply), /hunter2/);
    assert.deepEqual(methods(fake), ['apps.info']);
  });

  it('reports a missing app as not found', async () => {
    assert.equal((await notOk(fakeWithApps(), ['apps:info', 'nope'])).code, 'not_found');
  });
});

describe('apps:delete', () => {
  it('deletes with a matching --confirm', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['apps:delete', 'myapp', '--confirm', 'myapp']);
    assert.deepEqual(fake.calls, [{ method: 'apps.delete', args: ['myapp', 'myapp', 'cli:alice'] }]);
    assert.deepEqual(reply.json, { deleted: 'myapp' });
    assert.doesNotMatch(fake.snapshot(), /"myapp":/);
  });

  it('refuses a missing or wrong --confirm without calling the service', async () => {
    const fake = fakeWithApps();
    const before = fake.snapshot();
    await notOk(fake, ['apps:delete', 'myapp']);
    await notOk(fake, ['apps:delete', 'myapp', '--confirm', 'myapp-staging']);
    assert.deepEqual(fake.calls, []);
    assert.equal(fake.snapshot(), before);
  });
});
