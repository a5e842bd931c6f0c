import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeWithApps, notOk, ok } from './harness.ts';

describe('domains', () => {
  it('lists the app’s domains', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['domains', 'myapp']);
    assert.deepEqual(reply.blocks[1], {
      type: 'table',
      columns: ['DOMAIN', 'STATUS', 'ADDED'],
      rows: [['www.example.com', 'active', '2024-05-10 12:00 UTC']],
      empty: 'myapp has no domains. Add one with `domains:add myapp DOMAIN`.',
    });
    assert.deepEqual((reply.json as { domains: Array<{ domain: string }> }).domains.map((d) => d.domain), ['www.example.com']);
  });
});

describe('domains:add', () => {
  it('adds the lowercased hostname', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['domains:add', 'myapp', 'API.Example.com']);
    assert.deepEqual(fake.calls, [{ method: 'domains.add', args: ['myapp', 'api.example.com', 'cli:alice'] }]);
    assert.deepEqual(reply.blocks, [{ type: 'message', text: 'Added api.example.com to myapp (active).', tone: 'success' }]);
    assert.equal(reply.auditRef, 'api.example.com');
  });

  it('reports a domain routed to another app as a conflict', async () => {
    const error = await notOk(fakeWithApps(), ['domains:add', 'myapp-staging', 'www.example.com']);
    assert.equal(error.code, 'conflict');
    assert.equal(error.message, 'www.example.com already routes to myapp');
  });

  it('refuses a URL before calling the service', async () => {
    const fake = fakeWithApps();
    await notOk(fake, ['domains:add', 'myapp', 'https://www.example.org/']);
    assert.deepEqual(fake.calls, []);
  });
});

describe('domains:remove', () => {
  it('removes the domain', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['domains:remove', 'myapp', 'www.example.com']);
    assert.deepEqual(fake.calls, [{ method: 'domains.remove', args: ['myapp', 'www.example.com', 'cli:alice'] }]);
    assert.deepEqual(reply.json, { app: 'myapp', removed: 'www.example.com' });
    const after = await ok(fake, ['domains', 'myapp']);
    assert.deepEqual((after.json as { domains: unknown[] }).domains, []);
  });

  it('reports a domain the app does not have as not found', async () => {
    assert.equal((await notOk(fakeWithApps(), ['domains:remove', 'myapp', 'other.example.com'])).code, 'not_found');
  });
});
