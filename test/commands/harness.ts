/** Runs a command line against the fake services through the real grammar and executor. */
import assert from 'node:assert/strict';
import { COMMANDS } from '../../commands/index.ts';
import { executeCommand } from '../../src/core/grammar/execute.ts';
import type { ExecutionError } from '../../src/core/grammar/execute.ts';
import type { Actor } from '../../src/core/model.ts';
import { silentLogger } from '../../src/core/ports/clock.ts';
import type { Reply } from '../../src/core/reply.ts';
import { createFakeServices, terminalActor } from '../support/fake-services.ts';
import type { FakeServices } from '../support/fake-services.ts';

export const NOW = new Date('2024-05-10T12:00:00.000Z');

export function fakeWithApps(): FakeServices {
  const fake = createFakeServices({ now: () => NOW });
  fake.seedApp('myapp', {
    image: 'ghcr.io/org/app:v1',
    config: { API_KEY: 'hunter2-api', DATABASE_URL: 'postgres://u:hunter2@db/app' },
    domains: ['www.example.com'],
  });
  fake.seedApp('myapp-staging');
  return fake;
}

async function exec(fake: FakeServices, input: string[] | string, actor: Actor) {
  return executeCommand(input, {
    services: fake,
    actor,
    commands: COMMANDS,
    recordAudit: (e) => fake.recordAudit(e),
    log: silentLogger,
    now: () => NOW,
    roleOf: () => 'admin',
    prog: 'pvdify',
  });
}

/** Runs and expects success; returns the reply. */
export async function ok(fake: FakeServices, input: string[] | string, actor: Actor = terminalActor): Promise<Reply> {
  const result = await exec(fake, input, actor);
  if (result.outcome !== 'ok') assert.fail(`${JSON.stringify(input)} was ${result.outcome}: ${result.error.message}`);
  return result.reply;
}

/** Runs and expects a refusal or failure; returns the error. */
export async function notOk(fake: FakeServices, input: string[] | string, actor: Actor = terminalActor): Promise<ExecutionError> {
  const result = await exec(fake, input, actor);
  if (result.outcome === 'ok') assert.fail(`${JSON.stringify(input)} succeeded`);
  return result.error;
}

/** The methods called, without the read-only ones the test does not care about. */
export function methods(fake: FakeServices): string[] {
  return fake.calls.map((c) => c.method);
}
