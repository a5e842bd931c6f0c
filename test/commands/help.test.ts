import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../commands/index.ts';
import { GLOBAL_FLAGS } from '../../src/core/grammar/spec.ts';
import { createFakeServices, slackActor } from '../support/fake-services.ts';
import { notOk, ok } from './harness.ts';

describe('help', () => {
  it('lists every command with its summary, terminal-only ones marked', async () => {
    const reply = await ok(createFakeServices(), ['help']);
    const table = reply.blocks[1];
    assert.ok(table?.type === 'table');
    assert.deepEqual(table.rows.map((r) => r[0]), COMMANDS.map((c) => c.name));
    assert.match(table.rows.find((r) => r[0] === 'config:get')?.[1] ?? '', /\(terminal only\)$/);
    const json = reply.json as { commands: Array<{ name: string; usage: string }> };
    assert.equal(json.commands.find((c) => c.name === 'releases')?.usage, 'pvdify releases NAME [--limit N]');
  });

  it('shows one command’s usage, role and flags', async () => {
    const reply = await ok(createFakeServices(), ['help', 'releases']);
    assert.deepEqual(reply.blocks.slice(0, 3), [
      { type: 'heading', text: 'releases' },
      { type: 'message', text: 'List an app’s releases, newest first' },
      {
        type: 'record',
        fields: [
          { label: 'Usage', value: 'pvdify releases NAME [--limit N]' },
          { label: 'Role', value: 'viewer' },
        ],
      },
    ]);
    const flags = reply.blocks[3];
    assert.ok(flags?.type === 'table');
    assert.deepEqual(flags.rows.map((r) => r[0]), ['-a, --app NAME', '--limit N', '--json', '-h, --help']);
  });

  it('suggests a command for a typo', async () => {
    const error = await notOk(createFakeServices(), ['help', 'releses']);
    assert.equal(error.message, 'there is no command `releses`. Did you mean `releases`?');
  });

  it('works for an actor on Slack', async () => {
    await ok(createFakeServices(), ['help'], slackActor);
  });
});

describe('command modules', () => {
  it('have unique lowercase names and one-line summaries', () => {
    const names = COMMANDS.map((c) => c.name);
    assert.equal(new Set(names).size, names.length);
    for (const c of COMMANDS) {
      assert.match(c.name, /^[a-z]+(:[a-z]+)?$/);
      assert.doesNotMatch(c.summary, /\n/);
    }
  });

  it('name every positional and flag in their usage line', () => {
    for (const c of COMMANDS) {
      assert.ok(c.usage.startsWith(`${c.name}`), c.name);
      for (const p of c.positionals) assert.ok(c.usage.includes(p.label), `${c.name}: ${p.label}`);
      for (const f of c.flags) assert.ok(c.usage.includes(`--${f.name}`), `${c.name}: --${f.name}`);
    }
  });

  it('do not redeclare the global flags or reuse a short flag', () => {
    for (const c of COMMANDS) {
      const longs = [...c.flags.map((f) => f.name), ...c.positionals.flatMap((p) => (p.flag ? [p.flag.long] : []))];
      const shorts = [...c.flags, ...GLOBAL_FLAGS].flatMap((f) => (f.short === undefined ? [] : [f.short]));
      shorts.push(...c.positionals.flatMap((p) => (p.flag?.short === undefined ? [] : [p.flag.short])));
      for (const g of GLOBAL_FLAGS) assert.ok(!longs.includes(g.name), `${c.name} redeclares --${g.name}`);
      assert.equal(new Set(longs).size, longs.length, c.name);
      assert.equal(new Set(shorts).size, shorts.length, c.name);
    }
  });

  it('mark the read commands as free of side effects and the writes as having them', () => {
    const writes = COMMANDS.filter((c) => c.sideEffects).map((c) => c.name);
    assert.deepEqual(writes, [
      'apps:create',
      'apps:delete',
      'deploy',
      'rollback',
      'ps:scale',
      'ps:restart',
      'config:set',
      'config:unset',
      'domains:add',
      'domains:remove',
    ]);
  });
});
