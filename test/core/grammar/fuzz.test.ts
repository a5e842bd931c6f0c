import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../../commands/index.ts';
import { dispatch } from '../../../src/cli/dispatch.ts';
import { executeCommand } from '../../../src/core/grammar/execute.ts';
import { CommandFuzzer, FUZZ_APPS, runFuzz, seedFromEnv } from '../../support/command-fuzz.ts';
import type { FuzzTarget } from '../../support/command-fuzz.ts';
import { createFakeServices, createRecordingLogger, slackActor, terminalActor } from '../../support/fake-services.ts';

const NOW = new Date('2024-05-10T12:00:00.000Z');

function fakeTarget(): FuzzTarget {
  const fake = createFakeServices({ now: () => NOW });
  for (const [i, name] of FUZZ_APPS.entries()) {
    fake.seedApp(name, i % 2 === 0 ? { image: 'ghcr.io/org/app:v1', config: { API_KEY: 's3cr3t000000000001' }, domains: [`d${i}.example.com`] } : {});
  }
  const logger = createRecordingLogger();
  let logged = 0;
  const base = { services: fake, recordAudit: fake.recordAudit, log: logger.log, now: () => NOW };
  return {
    runArgv: (argv) => dispatch(argv, { ...base, actor: terminalActor }),
    async runText(text) {
      const r = await executeCommand(text, { ...base, actor: slackActor, commands: COMMANDS, roleOf: () => 'admin', prog: '/pvdify' });
      const output = r.outcome === 'ok' ? JSON.stringify([r.reply.blocks, r.reply.json]) : JSON.stringify(r.error);
      return { outcome: r.outcome, internal: r.outcome !== 'ok' && r.error.code === 'internal', output, command: r.command?.name ?? null };
    },
    snapshot: () => fake.snapshot(),
    auditEvents: () => fake.events,
    drainLog() {
      const lines = logger.lines.slice(logged);
      logged = logger.lines.length;
      return JSON.stringify(lines, (_k, v: unknown) => (v instanceof Error ? `${v.message} ${v.stack ?? ''}` : v));
    },
    storedSecrets() {
      return new Set(FUZZ_APPS.flatMap((app) => Object.values(fake.configValues(app))));
    },
    readCommands: new Set(COMMANDS.filter((c) => !c.sideEffects).map((c) => c.name)),
  };
}

describe('command fuzz', () => {
  it('keeps every invariant over 10,000 generated command lines', async (t) => {
    const seed = seedFromEnv();
    const count = Number(process.env.FUZZ_CASES ?? 10_000);
    t.diagnostic(`FUZZ_SEED=${seed} (set it to replay this run)`);
    const report = await runFuzz({ seed, count, makeTarget: fakeTarget, resetEvery: 500 });
    t.diagnostic(JSON.stringify(report));
    assert.equal(report.cases, count);
    // The mix must actually reach both outcomes and every kind, or the run proves little.
    assert.ok((report.exitCodes['0'] ?? 0) > count / 20, JSON.stringify(report.exitCodes));
    assert.ok((report.exitCodes['1'] ?? 0) > count / 10, JSON.stringify(report.exitCodes));
    for (const kind of ['valid', 'mutated', 'random', 'unicode', 'flag-soup']) assert.ok((report.byKind[kind] ?? 0) > 0, kind);
  });

  it('generates the same command lines from the same seed', () => {
    const a = new CommandFuzzer(1234);
    const b = new CommandFuzzer(1234);
    const c = new CommandFuzzer(1235);
    const take = (f: CommandFuzzer) => Array.from({ length: 200 }, () => f.next());
    const first = take(a);
    assert.deepEqual(first, take(b));
    assert.notDeepEqual(first, take(c));
  });
});
