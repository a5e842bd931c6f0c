import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { slackActor } from '../support/fake-services.ts';
import { fakeWithApps, methods, notOk, ok } from './harness.ts';

describe('config', () => {
  it('lists keys with masked values, never the values', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['config', 'myapp']);
    assert.deepEqual(reply.blocks[1], {
      type: 'table',
      columns: ['KEY', 'VALUE'],
      rows: [
        ['API_KEY', '•••••••• (11 chars)'],
        ['DATABASE_URL', '•••••••• (27 chars)'],
      ],
      empty: 'myapp has no config vars. Set one with `config:set myapp KEY=VALUE`.',
    });
    assert.deepEqual(reply.json, {
      app: 'myapp',
      config: [
        { key: 'API_KEY', masked: '•••••••• (11 chars)', length: 11 },
        { key: 'DATABASE_URL', masked: '•••••••• (27 chars)', length: 27 },
      ],
    });
    assert.doesNotMatch(JSON.stringify(reply), /hunter2/);
  });
});

describe('config:set', () => {
  it('sets the pairs in order and replies with the keys, config version and release', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['config:set', 'myapp', 'B=hunter2-b', 'A=hunter2-a']);
    assert.deepEqual(fake.calls, [
      { method: 'config.set', args: ['myapp', [['B', '<value>'], ['A', '<value>']], 'cli:alice'] },
    ]);
    assert.equal(fake.configValues('myapp').B, 'hunter2-b');
    assert.deepEqual(reply.blocks, [
      { type: 'message', text: 'Set B, A on myapp: config v2, release v3 (succeeded).', tone: 'success' },
    ]);
    assert.deepEqual(reply.json, {
      app: 'myapp',
      keys: ['B', 'A'],
      configVersion: 2,
      release: { version: 3, status: 'succeeded' },
    });
    assert.equal(reply.auditRef, 'myapp v3');
    assert.doesNotMatch(JSON.stringify(reply), /hunter2/);
  });

  it('says the change waits for the first deploy when the app never ran', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['config:set', 'myapp-staging', 'A=1']);
    assert.deepEqual(reply.blocks[0], {
      type: 'message',
      text: 'Set A on myapp-staging: config v1; it takes effect at the first deploy.',
      tone: 'success',
    });
    assert.equal(reply.auditRef, 'myapp-staging config v1');
  });

  it('refuses bad pairs before calling the service', async () => {
    const fake = fakeWithApps();
    await notOk(fake, ['config:set', 'myapp', 'A=1', 'A=2']);
    await notOk(fake, ['config:set', 'myapp', 'lower=1']);
    await notOk(fake, ['config:set', 'myapp']);
    assert.deepEqual(fake.calls, []);
  });
});

describe('config:unset', () => {
  it('unsets the keys', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['config:unset', 'myapp', 'API_KEY']);
    assert.deepEqual(fake.calls, [{ method: 'config.unset', args: ['myapp', ['API_KEY'], 'cli:alice'] }]);
    assert.equal(reply.blocks[0]?.type === 'message' && reply.blocks[0].text, 'Unset API_KEY on myapp: config v2, release v3 (succeeded).');
    assert.deepEqual(Object.keys(fake.configValues('myapp')), ['DATABASE_URL']);
  });

  it('reports an unknown key as not found', async () => {
    assert.equal((await notOk(fakeWithApps(), ['config:unset', 'myapp', 'NOPE'])).code, 'not_found');
  });
});

describe('config:get', () => {
  it('prints the value alone on a terminal', async () => {
    const fake = fakeWithApps();
    const reply = await ok(fake, ['config:get', 'myapp', 'API_KEY']);
    assert.deepEqual(reply.blocks, [{ type: 'message', text: 'hunter2-api' }]);
    assert.deepEqual(reply.json, { app: 'myapp', key: 'API_KEY', value: 'hunter2-api' });
    assert.deepEqual(methods(fake), ['config.get']);
  });

  it('is refused from Slack with a pointer to the terminal', async () => {
    const fake = fakeWithApps();
    const error = await notOk(fake, ['config:get', 'myapp', 'API_KEY'], slackActor);
    assert.equal(error.code, 'forbidden');
    assert.match(error.message, /only runs in a terminal/);
    assert.match(error.hint ?? '', /pvdify config:get/);
    assert.deepEqual(fake.calls, []);
  });
});
