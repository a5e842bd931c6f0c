import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { COMMANDS } from '../../../commands/index.ts';
import { APP_POSITIONAL, defineCommand } from '../../../commands/types.ts';
import { UsageError, parseTokens, validateArgs } from '../../../src/core/grammar/parse.ts';

const parse = (argv: string[]) => parseTokens(argv, COMMANDS, 'pvdify');

function usageError(argv: string[], message: string | RegExp, usage?: string): UsageError {
  let caught: unknown;
  try {
    const parsed = parse(argv);
    validateArgs(parsed.command, parsed.raw, 'pvdify');
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError for ${JSON.stringify(argv)}, got ${String(caught)}`);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else assert.match(caught.message, message);
  if (usage !== undefined) assert.equal(caught.usage, usage);
  return caught;
}

describe('parseTokens: commands', () => {
  it('picks the command named by the first argument', () => {
    const parsed = parse(['apps:info', 'myapp']);
    assert.equal(parsed.command.name, 'apps:info');
    assert.deepEqual(parsed.raw, { app: 'myapp' });
    assert.equal(parsed.json, false);
  });

  it('answers empty input, -h and --help with help', () => {
    for (const argv of [[], ['-h'], ['--help']]) assert.equal(parse(argv).command.name, 'help');
  });

  it('suggests the closest command and shows its usage', () => {
    usageError(
      ['apps:creat', 'x'],
      'unknown command `apps:creat`. Did you mean `apps:create`?',
      'pvdify apps:create NAME [--env production|staging|preview]',
    );
  });

  it('refuses an unknown command without a guess when none is close', () => {
    const e = usageError(['frobnicate'], 'unknown command `frobnicate`', 'pvdify COMMAND [ARGS…]');
    assert.match(e.hint ?? '', /pvdify help/);
  });

  it('refuses a flag where the command should be', () => {
    usageError(['--json', 'apps'], 'expected a command before `--json`');
  });
});

describe('parseTokens: app name, positionals', () => {
  it('takes the app as first positional, -a NAME or --app NAME alike', () => {
    for (const argv of [
      ['config:set', 'myapp', 'A=1'],
      ['config:set', '-a', 'myapp', 'A=1'],
      ['config:set', '--app', 'myapp', 'A=1'],
      ['config:set', 'A=1', '--app=myapp'],
    ]) {
      assert.deepEqual(parse(argv).raw, { app: 'myapp', pairs: ['A=1'] }, JSON.stringify(argv));
    }
  });

  it('names the missing positional', () => {
    usageError(['apps:info'], 'missing NAME', 'pvdify apps:info NAME');
    usageError(['releases:info', 'myapp'], 'missing vN');
    usageError(['config:set', 'myapp'], 'missing KEY=VALUE');
  });

  it('refuses extra positionals and shows them (secret values masked)', () => {
    usageError(['apps:info', 'myapp', 'other'], 'unexpected argument `other`');
    const e = usageError(['config:get', 'myapp', 'KEY', 'X=hunter2', 'b', 'c', 'd'], /^unexpected arguments `X=\*\*\*`, `b`, `c` and 1 more$/);
    assert.doesNotMatch(e.message, /hunter2/);
  });

  it('refuses the app given both ways', () => {
    usageError(['apps:info', '-a', 'myapp', 'myapp'], 'unexpected argument `myapp`');
  });
});

describe('parseTokens: flags', () => {
  it('reads --flag value, --flag=value and short flags', () => {
    assert.deepEqual(parse(['releases', 'myapp', '--limit', '5']).raw, { app: 'myapp', limit: '5' });
    assert.deepEqual(parse(['releases', 'myapp', '--limit=5']).raw, { app: 'myapp', limit: '5' });
    assert.deepEqual(parse(['audit', '-n', '5', '-a', 'myapp']).raw, { limit: '5', app: 'myapp' });
    assert.deepEqual(parse(['releases', 'myapp', '--limit=']).raw, { app: 'myapp', limit: '' });
  });

  it('takes a value that starts with a single dash (so the schema can refuse -5 by name)', () => {
    assert.deepEqual(parse(['releases', 'myapp', '--limit', '-5']).raw, { app: 'myapp', limit: '-5' });
  });

  it('refuses a value flag without a value', () => {
    usageError(['releases', 'myapp', '--limit'], '`--limit` needs a value (N)');
    usageError(['releases', 'myapp', '--limit', '--json'], '`--limit` needs a value (N)');
  });

  it('handles --json and --help on every command and keeps them out of the raw args', () => {
    const parsed = parse(['apps', '--json']);
    assert.equal(parsed.json, true);
    assert.deepEqual(parsed.raw, {});
    const help = parse(['apps:create', '--help']);
    assert.equal(help.help, true);
    assert.equal(help.command.name, 'apps:create');
  });

  it('refuses a value for a boolean flag', () => {
    usageError(['apps', '--json=yes'], '`--json` takes no value');
  });

  it('refuses repeated flags, including the same flag in two spellings', () => {
    usageError(['releases', 'myapp', '--limit', '1', '--limit', '2'], '`--limit` is given more than once');
    usageError(['apps:info', '-a', 'x', '--app', 'y'], '`--app` is given more than once');
    usageError(['apps', '--json', '--json'], '`--json` is given more than once');
  });

  it('suggests the closest flag and shows the usage', () => {
    usageError(['releases', 'myapp', '--limt', '5'], 'unknown flag `--limt` for releases. Did you mean `--limit`?', 'pvdify releases NAME [--limit N]');
    usageError(['releases', 'myapp', '--xyzzy'], 'unknown flag `--xyzzy` for releases');
    usageError(['releases', 'myapp', '-z'], 'unknown flag `-z` for releases');
  });

  it('never shows the value of an unknown --flag=value', () => {
    const e = usageError(['config:set', 'myapp', '--DATABASE_URL=postgres://u:hunter2@db'], /^unknown flag `--DATABASE_URL` for config:set/);
    assert.doesNotMatch(e.message, /hunter2/);
  });

  it('treats everything after -- as positional', () => {
    assert.deepEqual(parse(['config:unset', 'myapp', '--', '--json', '-a']).raw, { app: 'myapp', keys: ['--json', '-a'] });
    assert.equal(parse(['config:unset', 'myapp', '--', '--json']).json, false);
  });
});

describe('grammar room for the rollout commands', () => {
  // Specs shaped like the next issue's commands, to prove the grammar carries them.
  const deploy = defineCommand({
    name: 'deploy',
    summary: 'Deploy an image',
    usage: 'deploy NAME IMAGE',
    positionals: [APP_POSITIONAL, { name: 'image', label: 'IMAGE', required: true, flag: { long: 'image' } }],
    flags: [],
    args: z.object({ app: z.string(), image: z.string() }),
    role: 'deployer',
    sideEffects: true,
    run: () => Promise.reject(new Error('not run in this test')),
  });
  const scale = defineCommand({
    name: 'ps:scale',
    summary: 'Scale',
    usage: 'ps:scale NAME TYPE=N…',
    positionals: [APP_POSITIONAL, { name: 'counts', label: 'TYPE=N', required: true, variadic: true }],
    flags: [],
    args: z.object({ app: z.string(), counts: z.array(z.string()) }),
    role: 'deployer',
    sideEffects: true,
    run: () => Promise.reject(new Error('not run in this test')),
  });
  const logs = defineCommand({
    name: 'logs',
    summary: 'Logs',
    usage: 'logs NAME [-p TYPE] [-n N]',
    positionals: [APP_POSITIONAL],
    flags: [
      { name: 'process', short: 'p', kind: 'value', valueLabel: 'TYPE', description: 'process type' },
      { name: 'num', short: 'n', kind: 'value', valueLabel: 'N', description: 'lines' },
    ],
    args: z.object({ app: z.string(), process: z.string().optional(), num: z.string().optional() }),
    role: 'viewer',
    sideEffects: false,
    run: () => Promise.reject(new Error('not run in this test')),
  });
  const specs = [deploy, scale, logs];
  const p = (argv: string[]) => parseTokens(argv, specs, 'pvdify').raw;

  it('takes IMAGE as a positional or as --image, in any order', () => {
    const want = { app: 'myapp', image: 'ghcr.io/org/app:v1' };
    assert.deepEqual(p(['deploy', 'myapp', 'ghcr.io/org/app:v1']), want);
    assert.deepEqual(p(['deploy', 'myapp', '--image', 'ghcr.io/org/app:v1']), want);
    assert.deepEqual(p(['deploy', '--image=ghcr.io/org/app:v1', 'myapp']), want);
    assert.deepEqual(p(['deploy', '-a', 'myapp', 'ghcr.io/org/app:v1']), want);
  });

  it('takes web=3 worker=1 pairs and -p/-n short flags', () => {
    assert.deepEqual(p(['ps:scale', 'myapp', 'web=3', 'worker=1']), { app: 'myapp', counts: ['web=3', 'worker=1'] });
    assert.deepEqual(p(['logs', 'myapp', '-p', 'web', '-n', '50']), { app: 'myapp', process: 'web', num: '50' });
  });
});
