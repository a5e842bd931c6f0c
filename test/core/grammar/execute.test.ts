import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../../commands/index.ts';
import { NotFoundError, SecretsError } from '../../../src/core/errors.ts';
import { executeCommand } from '../../../src/core/grammar/execute.ts';
import type { ExecuteDeps, ExecutionResult } from '../../../src/core/grammar/execute.ts';
import type { Role, RoleResolver } from '../../../src/core/grammar/roles.ts';
import type { Actor } from '../../../src/core/model.ts';
import {
  createFakeServices,
  createRecordingLogger,
  slackActor,
  terminalActor,
} from '../../support/fake-services.ts';
import type { FakeServices } from '../../support/fake-services.ts';

function setup(opts: { actor?: Actor; roleOf?: RoleResolver } = {}) {
  const fake = createFakeServices();
  fake.seedApp('myapp', { image: 'ghcr.io/org/app:v1', config: { API_KEY: 'hunter2-secret' } });
  const logger = createRecordingLogger();
  const deps: ExecuteDeps = {
    services: fake,
    actor: opts.actor ?? terminalActor,
    commands: COMMANDS,
    recordAudit: (e) => fake.recordAudit(e),
    log: logger.log,
    now: () => new Date('2024-05-01T12:00:00Z'),
    roleOf: opts.roleOf ?? (() => 'admin'),
    prog: '/pvdify',
  };
  return { fake, logger, deps };
}

function errorOf(result: ExecutionResult) {
  assert.notEqual(result.outcome, 'ok', 'expected a refusal or failure');
  if (result.outcome === 'ok') throw new Error('unreachable');
  return result.error;
}

const mutations = (fake: FakeServices) => fake.calls.filter((c) => /\.(create|delete|set|unset|add|remove)$/.test(c.method));

describe('executeCommand', () => {
  it('runs Slack text, quotes included, and records one ok event', async () => {
    const { fake, deps } = setup({ actor: slackActor });
    const result = await executeCommand(`config:set myapp GREETING="hello world"`, deps);
    assert.equal(result.outcome, 'ok');
    assert.equal(fake.configValues('myapp').GREETING, 'hello world');
    assert.equal(fake.events.length, 1);
    assert.deepEqual(
      { ...fake.events[0], seq: 0, id: '', time: '', prev: '', hash: '' },
      {
        actor_id: 'slack:U123',
        actor_name: 'bob',
        source: 'slack',
        channel: 'C0123',
        command: 'config:set myapp GREETING=***',
        app: 'myapp',
        outcome: 'ok',
        ref: 'myapp v3',
        detail: null,
        seq: 0,
        id: '',
        time: '',
        prev: '',
        hash: '',
      },
    );
  });

  it('refuses config:get off the terminal before the service is called', async () => {
    const { fake, deps } = setup({ actor: slackActor });
    const result = await executeCommand('config:get myapp API_KEY', deps);
    const error = errorOf(result);
    assert.equal(result.outcome, 'refused');
    assert.equal(error.code, 'forbidden');
    assert.equal(error.message, 'config:get prints secret values, so it only runs in a terminal');
    assert.equal(fake.calls.length, 0);
    assert.equal(fake.events[0]?.outcome, 'refused');
    assert.equal(fake.events[0]?.detail, error.message);
  });

  it('checks the role the resolver gives for the app, before running', async () => {
    const seen: Array<[string, string | null]> = [];
    const roles: Record<string, Role> = { myapp: 'viewer', scratch: 'admin' };
    const { fake, deps } = setup({
      roleOf: (actor, app) => {
        seen.push([actor.id, app]);
        return app === null ? 'viewer' : (roles[app] ?? 'deployer');
      },
    });
    const refused = await executeCommand(['config:set', 'myapp', 'A=1'], deps);
    assert.equal(errorOf(refused).message, 'config:set needs the deployer role on myapp; alice has viewer');
    assert.equal(mutations(fake).length, 0);
    assert.equal((await executeCommand(['config', 'myapp'], deps)).outcome, 'ok');
    assert.equal((await executeCommand(['apps'], deps)).outcome, 'ok');
    assert.equal(errorOf(await executeCommand(['apps:create', 'other'], deps)).code, 'forbidden');
    assert.equal((await executeCommand(['apps:create', 'scratch'], deps)).outcome, 'ok');
    assert.deepEqual(seen, [
      ['cli:alice', 'myapp'],
      ['cli:alice', 'myapp'],
      ['cli:alice', null],
      ['cli:alice', 'other'],
      ['cli:alice', 'scratch'],
    ]);
    assert.deepEqual(
      fake.events.map((e) => e.outcome),
      ['refused', 'ok', 'ok', 'refused', 'ok'],
    );
  });

  it('refuses an actor the policy does not know', async () => {
    const { fake, deps } = setup({ roleOf: () => null });
    const error = errorOf(await executeCommand(['apps'], deps));
    assert.equal(error.message, 'alice may not use pvdify');
    assert.equal(fake.calls.length, 0);
  });

  it('records a refusal that never parsed, with the redacted text and no app', async () => {
    const { fake, deps } = setup();
    const result = await executeCommand('config:set myapp "K=hunter2', deps);
    assert.equal(result.outcome, 'refused');
    assert.equal(result.command, null);
    assert.equal(fake.events.length, 1);
    assert.equal(fake.events[0]?.command, 'config:set myapp K=***');
    assert.equal(fake.events[0]?.app, null);
    assert.match(fake.events[0]?.detail ?? '', /^unterminated quote/);
  });

  it('records refused for not-found and failed for other known errors, with the message as detail', async () => {
    const { fake, deps } = setup();
    fake.failNext('apps.info', new NotFoundError('app myapp does not exist'));
    const notFound = await executeCommand(['apps:info', 'myapp'], deps);
    assert.equal(notFound.outcome, 'refused');
    fake.failNext('config.set', new SecretsError('the age key cannot decrypt config v1', 'check PVDIFY_AGE_KEY_FILE'));
    const failed = await executeCommand(['config:set', 'myapp', 'A=hunter2'], deps);
    assert.equal(failed.outcome, 'failed');
    assert.deepEqual(errorOf(failed), {
      code: 'secrets',
      message: 'the age key cannot decrypt config v1',
      hint: 'check PVDIFY_AGE_KEY_FILE',
    });
    assert.deepEqual(
      fake.events.map((e) => [e.outcome, e.app, e.detail]),
      [
        ['refused', 'myapp', 'app myapp does not exist'],
        ['failed', 'myapp', 'the age key cannot decrypt config v1'],
      ],
    );
  });

  it('turns an unknown error into "internal error (ref …)" with the details only in the log', async () => {
    const { fake, logger, deps } = setup();
    fake.failNext('apps.list', new TypeError('cannot read properties of undefined (reading secretThing)'));
    const result = await executeCommand(['apps'], deps);
    const error = errorOf(result);
    assert.equal(result.outcome, 'failed');
    assert.match(error.message, /^internal error \(ref E[0-9a-f]{8}\)$/);
    assert.equal(error.code, 'internal');
    assert.doesNotMatch(JSON.stringify(error), /secretThing/);
    assert.equal(fake.events[0]?.ref, error.ref);
    assert.doesNotMatch(JSON.stringify(fake.events[0]), /secretThing/);
    const logged = logger.lines.find((l) => l.level === 'error');
    assert.ok(logged);
    assert.match(logger.text(), /secretThing/);
    assert.equal((logged.obj as { ref?: string }).ref, error.ref);
  });

  it('reports an audit write failure in the result instead of throwing', async () => {
    const { deps, logger } = setup();
    deps.recordAudit = () => {
      throw new Error('disk full');
    };
    const result = await executeCommand(['apps'], deps);
    assert.equal(result.outcome, 'ok');
    assert.match(result.auditError ?? '', /^E[0-9a-f]{8}$/);
    assert.match(logger.text(), /disk full/);
  });

  it('answers --help without running the command or calling a service', async () => {
    const { fake, deps } = setup();
    const result = await executeCommand(['apps:delete', '--help'], deps);
    assert.equal(result.outcome, 'ok');
    if (result.outcome !== 'ok') return;
    assert.deepEqual(result.reply.blocks[0], { type: 'heading', text: 'apps:delete' });
    assert.equal((result.reply.json as { usage: string }).usage, '/pvdify apps:delete NAME --confirm NAME');
    assert.equal(fake.calls.length, 0);
  });

  it('uses the front door’s program name in usage lines', async () => {
    const { deps } = setup();
    assert.equal(errorOf(await executeCommand('apps:info', deps)).usage, '/pvdify apps:info NAME');
  });

  it('never logs a secret value', async () => {
    const { deps, logger } = setup();
    await executeCommand(['config:set', 'myapp', 'TOKEN=hunter2-new'], deps);
    await executeCommand(['config:set', 'myapp', 'bad=hunter2-new'], deps);
    await executeCommand(['config:get', 'myapp', 'API_KEY'], deps);
    assert.doesNotMatch(logger.text(), /hunter2/);
  });
});
