import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EXIT_INTERNAL, EXIT_OK, EXIT_REFUSED, dispatch, needsRuntime } from '../../src/cli/dispatch.ts';
import type { DispatchDeps } from '../../src/cli/dispatch.ts';
import { SecretsError } from '../../src/core/errors.ts';
import { createFakeServices, createRecordingLogger, terminalActor } from '../support/fake-services.ts';

const SECRETS = ['hunter2-api', 'postgres://u:hunter2@db/app', 'hunter2-new'];

function setup() {
  const fake = createFakeServices({ now: () => new Date('2024-05-10T12:00:00Z') });
  fake.seedApp('myapp', {
    image: 'ghcr.io/org/app:v1',
    config: { API_KEY: SECRETS[0] as string, DATABASE_URL: SECRETS[1] as string },
  });
  const logger = createRecordingLogger();
  const deps: DispatchDeps = {
    services: fake,
    actor: terminalActor,
    recordAudit: (e) => fake.recordAudit(e),
    log: logger.log,
    now: () => new Date('2024-05-10T12:00:00Z'),
  };
  return { fake, logger, deps };
}

describe('dispatch', () => {
  it('prints the reply as text and exits 0', async () => {
    const { deps } = setup();
    const result = await dispatch(['apps'], deps);
    assert.deepEqual(result, {
      exitCode: EXIT_OK,
      stdout: 'NAME   ENVIRONMENT  STATUS   RELEASE  IMAGE\nmyapp  production   running  v2       ghcr.io/org/app:v1\n',
      stderr: '',
    });
  });

  it('prints reply.json with --json', async () => {
    const { deps } = setup();
    const result = await dispatch(['releases', 'myapp', '--json', '--limit', '1'], deps);
    assert.equal(result.exitCode, EXIT_OK);
    const json = JSON.parse(result.stdout) as { app: string; releases: Array<{ version: number; kind: string }> };
    assert.equal(json.app, 'myapp');
    assert.deepEqual(json.releases.map((r) => [r.version, r.kind]), [[2, 'config']]);
  });

  it('prints help and exits 0 for no arguments', async () => {
    const { deps, fake } = setup();
    const result = await dispatch([], deps);
    assert.equal(result.exitCode, EXIT_OK);
    assert.match(result.stdout, /^=== pvdify COMMAND \[ARGS…\]\n/);
    assert.equal(fake.events.length, 1);
  });

  it('refuses bad input with the reason and usage on stderr, exit 1, and audits it', async () => {
    const { deps, fake } = setup();
    const result = await dispatch(['apps:creat', 'shop'], deps);
    assert.deepEqual(result, {
      exitCode: EXIT_REFUSED,
      stdout: '',
      stderr:
        'error: unknown command `apps:creat`. Did you mean `apps:create`?\n' +
        'usage: pvdify apps:create NAME [--env production|staging|preview]\n',
    });
    assert.deepEqual(
      fake.events.map((e) => [e.outcome, e.command, e.app, e.detail]),
      [['refused', 'apps:creat shop', null, 'unknown command `apps:creat`. Did you mean `apps:create`?']],
    );
  });

  it('exits non-zero on every kind of refusal', async () => {
    const { deps, fake } = setup();
    const before = fake.snapshot();
    const refusals = [
      ['frobnicate'],
      ['apps:info'],
      ['apps:info', 'a', 'b'],
      ['releases', 'myapp', '--limit', '-5'],
      ['releases', 'myapp', '--limt', '5'],
      ['releases', 'myapp', '--limit', '1', '--limit', '2'],
      ['apps:create', 'Shop'],
      ['apps:create', 'sh\u043ep'],
      ['apps:create', 'a'.repeat(41)],
      ['apps:create', 'shop', '--env', 'prod'],
      ['config:set', 'myapp', 'NOEQUALS'],
      ['config:set', 'myapp', '=x'],
      ['config:set', 'myapp', 'A=1', 'A=2'],
      ['apps:delete', 'myapp'],
      ['apps:info', 'x'.repeat(70 * 1024)],
      ['apps:info', 'my\u0000app'],
      ['apps:info', 'nope'],
    ];
    for (const argv of refusals) {
      const result = await dispatch(argv, deps);
      assert.equal(result.exitCode, EXIT_REFUSED, JSON.stringify(argv).slice(0, 80));
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^error: /);
    }
    assert.equal(fake.snapshot(), before);
    assert.equal(fake.events.length, refusals.length);
    assert.ok(fake.events.every((e) => e.outcome === 'refused'));
  });

  it('prints the hint of a known failure and exits 1', async () => {
    const { deps, fake } = setup();
    fake.failNext('config.set', new SecretsError('no age key at /etc/pvdify/age.key', 'create one with `pvdifyd keygen`'));
    const result = await dispatch(['config:set', 'myapp', 'A=1'], deps);
    assert.deepEqual(result, {
      exitCode: EXIT_REFUSED,
      stdout: '',
      stderr: 'error: no age key at /etc/pvdify/age.key\nhint: create one with `pvdifyd keygen`\n',
    });
    assert.equal(fake.events[0]?.outcome, 'failed');
  });

  it('answers an unknown error with a ref only, exit 2, details in the log', async () => {
    const { deps, fake, logger } = setup();
    fake.failNext('apps.info', new Error('SQLITE_CORRUPT at /var/lib/pvdify/pvdifyd.db page 7'));
    const result = await dispatch(['apps:info', 'myapp'], deps);
    assert.equal(result.exitCode, EXIT_INTERNAL);
    assert.match(result.stderr, /^error: internal error \(ref (E[0-9a-f]{8})\)\nhint: the details are in the pvdify log\n$/);
    assert.doesNotMatch(result.stderr + result.stdout, /SQLITE|pvdifyd\.db/);
    const ref = /ref (E[0-9a-f]{8})/.exec(result.stderr)?.[1];
    assert.match(logger.text(), new RegExp(`${ref}.*SQLITE_CORRUPT|SQLITE_CORRUPT.*${ref}`, 's'));
    assert.deepEqual(
      fake.events.map((e) => [e.outcome, e.ref, e.app]),
      [['failed', ref, 'myapp']],
    );
  });

  it('exits 2 with a warning when the audit event cannot be recorded', async () => {
    const { deps } = setup();
    deps.recordAudit = () => {
      throw new Error('EROFS');
    };
    const result = await dispatch(['apps'], deps);
    assert.equal(result.exitCode, EXIT_INTERNAL);
    assert.match(result.stdout, /myapp/);
    assert.match(result.stderr, /^warning: the audit event could not be recorded \(ref E[0-9a-f]{8}\)/);
  });

  it('records exactly one audit event per invocation', async () => {
    const { deps, fake } = setup();
    await dispatch(['config:set', 'myapp', 'A=1'], deps);
    await dispatch(['config:set', 'myapp', 'a=1'], deps);
    await dispatch(['config:get', 'myapp', 'A'], deps);
    assert.deepEqual(
      fake.events.map((e) => [e.outcome, e.command, e.ref]),
      [
        ['ok', 'config:set myapp A=***', 'myapp v3'],
        ['refused', 'config:set myapp a=***', null],
        ['ok', 'config:get myapp A', null],
      ],
    );
  });

  it('never prints or records a config value, except config:get on stdout', async () => {
    const { deps, fake, logger } = setup();
    const outputs: string[] = [];
    for (const argv of [
      ['config', 'myapp'],
      ['config', 'myapp', '--json'],
      ['config:set', 'myapp', `TOKEN=${SECRETS[2]}`],
      ['config:set', 'myapp', `TOKEN=${SECRETS[2]}`, '--json'],
      ['config:set', 'myapp', `token=${SECRETS[2]}`],
      ['config:set', 'myapp', 'TOKEN=x', `${SECRETS[2]}`],
      ['config:set', 'myapp', `TOKEN=${SECRETS[2]}`, `TOKEN=${SECRETS[2]}`],
      ['config:set', 'nope', `TOKEN=${SECRETS[2]}`],
      ['apps:info', 'myapp', '--json'],
      ['audit', '--json'],
    ]) {
      const r = await dispatch(argv, deps);
      outputs.push(r.stdout, r.stderr);
    }
    const everything = [...outputs, JSON.stringify(fake.events), logger.text()].join('\n');
    for (const secret of SECRETS) assert.ok(!everything.includes(secret), `leaked ${secret}`);

    const get = await dispatch(['config:get', 'myapp', 'DATABASE_URL'], deps);
    assert.deepEqual(get, { exitCode: EXIT_OK, stdout: `${SECRETS[1]}\n`, stderr: '' });
    assert.ok(!JSON.stringify(fake.events).includes(SECRETS[1] as string));
    assert.ok(!logger.text().includes(SECRETS[1] as string));
  });
});

describe('needsRuntime', () => {
  it('is false for help and for anything the grammar refuses', () => {
    for (const argv of [[], ['help'], ['help', 'apps'], ['apps:create', '--help'], ['nope'], ['apps:info'], ['apps:info', 'Bad'], ['x\u0000']]) {
      assert.equal(needsRuntime(argv), false, JSON.stringify(argv));
    }
  });

  it('is true for a well-formed command', () => {
    for (const argv of [['apps'], ['apps:info', 'myapp'], ['config:set', 'myapp', 'A=1']]) {
      assert.equal(needsRuntime(argv), true, JSON.stringify(argv));
    }
  });
});
