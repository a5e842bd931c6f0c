import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeWithApps, ok } from './harness.ts';

describe('audit', () => {
  it('queries newest first with the default limit of 50', async () => {
    const fake = fakeWithApps();
    await ok(fake, ['apps']);
    await ok(fake, ['config:set', 'myapp', 'A=hunter2']);
    const reply = await ok(fake, ['audit']);
    assert.deepEqual(fake.calls.at(-1), { method: 'audit.query', args: [{ limit: 50 }] });
    const table = reply.blocks[0];
    assert.ok(table?.type === 'table');
    assert.deepEqual(table.columns, ['TIME', 'WHO', 'OUTCOME', 'APP', 'COMMAND', 'REF']);
    assert.deepEqual(table.rows, [
      ['2024-05-10 12:00 UTC', 'alice', 'ok', 'myapp', 'config:set myapp A=***', 'myapp v3'],
      ['2024-05-10 12:00 UTC', 'alice', 'ok', '-', 'apps', '-'],
    ]);
    assert.doesNotMatch(JSON.stringify(reply), /hunter2/);
  });

  it('passes --app, --user, --limit and resolves --since against now', async () => {
    const fake = fakeWithApps();
    await ok(fake, ['audit', '--app', 'myapp', '-u', 'cli:bob', '--since', '24h', '-n', '5']);
    assert.deepEqual(fake.calls, [
      { method: 'audit.query', args: [{ limit: 5, app: 'myapp', user: 'cli:bob', since: '2024-05-09T12:00:00.000Z' }] },
    ]);
    await ok(fake, ['audit', '--since', '2024-05-01']);
    assert.deepEqual(fake.calls.at(-1)?.args, [{ limit: 50, since: '2024-05-01T00:00:00.000Z' }]);
  });

  it('shows the detail of refusals', async () => {
    const fake = fakeWithApps();
    fake.recordAudit({
      actor_id: 'slack:U9',
      actor_name: 'carol',
      source: 'slack',
      command: 'apps:delete myapp',
      app: 'myapp',
      outcome: 'refused',
      detail: '--confirm: does not match',
    });
    const reply = await ok(fake, ['audit', '--json']);
    const table = reply.blocks[0];
    assert.ok(table?.type === 'table');
    assert.deepEqual(table.rows[0]?.slice(1), ['carol', 'refused', 'myapp', 'apps:delete myapp', '--confirm: does not match']);
    assert.equal((reply.json as { events: unknown[] }).events.length, 1);
  });
});
