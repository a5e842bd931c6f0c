/**
 * The command fuzz of `fuzz.test.ts`, over the REAL stack in-process: the state store on a temp
 * dir (YAML files, SQLite index, lock db, hash-chained audit files), SOPS/age config versions
 * with a generated identity, and the real services (no rollout engine), behind the same two
 * front doors (`dispatch` for the terminal, `executeCommand` for Slack text).
 *
 * "Nothing changed" is judged on the files: every file under the state dir with a hash of its
 * content, except the audit trail, the index, the lock db and logs (which every command,
 * refused or not, may legitimately touch).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { COMMANDS } from '../../../commands/index.ts';
import { dispatch } from '../../../src/cli/dispatch.ts';
import { executeCommand } from '../../../src/core/grammar/execute.ts';
import type { AuditEvent, AuditEventInput } from '../../../src/core/model.ts';
import type { Clock } from '../../../src/core/ports/clock.ts';
import type { StateStore } from '../../../src/core/ports/store.ts';
import { createServices } from '../../../src/core/services/create-services.ts';
import { verifyAuditLog } from '../../../src/store/audit-log.ts';
import { generateAgeIdentity } from '../../../src/store/sops/age-keys.ts';
import { createAgeVault } from '../../../src/store/sops/age-vault.ts';
import { openStateStore } from '../../../src/store/state-store.ts';
import { snapshotStateDir } from '../../support/cli-env.ts';
import { FUZZ_APPS, runFuzz, seedFromEnv } from '../../support/command-fuzz.ts';
import type { FuzzTarget } from '../../support/command-fuzz.ts';
import { createRecordingLogger, slackActor, terminalActor } from '../../support/fake-services.ts';

const START = Date.parse('2024-05-10T12:00:00.000Z');
const READ_COMMANDS = new Set(COMMANDS.filter((c) => !c.sideEffects).map((c) => c.name));

interface RealTarget extends FuzzTarget {
  root: string;
  store: StateStore;
  events: AuditEvent[];
}

/** A clock that moves one second per command, so audit times and `--since` stay meaningful. */
function steppingClock(): Clock & { step(): void } {
  let now = START;
  return {
    now: () => new Date(now),
    step: () => {
      now += 1000;
    },
  };
}

async function realTarget(vault: ReturnType<typeof createAgeVault>, dirs: string[]): Promise<RealTarget> {
  const root = mkdtempSync(join(tmpdir(), 'pvdify-fuzz-real-'));
  dirs.push(root);
  const logger = createRecordingLogger();
  const clock = steppingClock();
  const store = openStateStore({ root, clock, log: logger.log.child({ component: 'store' }) });
  const services = createServices({ store, vault, clock, log: logger.log.child({ component: 'services' }) });
  const events: AuditEvent[] = [];
  const recordAudit = (input: AuditEventInput): void => {
    events.push(store.appendAudit(input));
  };

  // The same starting point as the fake target: every other app deployed, with config and a domain.
  for (const [i, name] of FUZZ_APPS.entries()) {
    store.createApp({ name, environment: name.endsWith('-staging') ? 'staging' : /-pr-\d+$/.test(name) ? 'preview' : 'production' });
    if (i % 2 !== 0) continue;
    const release = store.createRelease({
      app: name,
      kind: 'deploy',
      image: 'ghcr.io/org/app:v1',
      config_version: null,
      status: 'succeeded',
      description: 'Deploy ghcr.io/org/app:v1',
      source: 'cli',
      created_by: terminalActor.id,
      created_by_name: terminalActor.name,
      approved_by: null,
      rollback_of: null,
    });
    store.updateApp(name, (a) => ({
      ...a,
      status: 'running',
      image: release.image,
      current_release: release.version,
      domains: [`d${i}.example.com`],
      domain_routes: { [`d${i}.example.com`]: { status: 'active', cf_record_id: null, created_at: clock.now().toISOString() } },
    }));
    await services.config.set(name, [['API_KEY', 's3cr3t000000000001']], terminalActor);
  }

  let logged = 0;
  const stored = new Set<string>();
  const seen = new Set<string>();
  /**
   * Decrypts every config version not seen yet; its values join `stored` for good (deleted
   * apps included: their values must not surface either). Versions are immutable, so each is
   * decrypted once; the key includes the version's time because a re-created app reuses v1.
   * Runs after every command, so `storedSecrets()` (synchronous) is always current.
   */
  const refreshSecrets = async (): Promise<void> => {
    for (const app of store.listApps()) {
      for (const v of store.listConfigVersions(app.name)) {
        const key = `${app.name}/v${v.version}/${v.created_at}`;
        if (seen.has(key)) continue;
        seen.add(key);
        for (const value of Object.values(await vault.decrypt(store.readConfigVersion(app.name, v.version)))) stored.add(value);
      }
    }
  };
  await refreshSecrets();
  assert.ok(stored.has('s3cr3t000000000001'));

  const base = { services, recordAudit, log: logger.log, now: () => clock.now() };
  return {
    root,
    store,
    events,
    async runArgv(argv) {
      clock.step();
      const r = await dispatch(argv, { ...base, actor: terminalActor });
      await refreshSecrets();
      return r;
    },
    async runText(text) {
      clock.step();
      const r = await executeCommand(text, { ...base, actor: slackActor, commands: COMMANDS, roleOf: () => 'admin', prog: '/pvdify' });
      await refreshSecrets();
      const output = r.outcome === 'ok' ? JSON.stringify([r.reply.blocks, r.reply.json]) : JSON.stringify(r.error);
      return { outcome: r.outcome, internal: r.outcome !== 'ok' && r.error.code === 'internal', output, command: r.command?.name ?? null };
    },
    snapshot: () => snapshotStateDir(root),
    auditEvents: () => events,
    drainLog() {
      const lines = logger.lines.slice(logged);
      logged = logger.lines.length;
      return JSON.stringify(lines, (_k, v: unknown) => (v instanceof Error ? `${v.message} ${v.stack ?? ''}` : v));
    },
    storedSecrets: () => stored,
    readCommands: READ_COMMANDS,
  };
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

describe('command fuzz over the real store, SOPS vault and services', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('keeps every invariant over at least 10,000 generated command lines', async (t) => {
    const seed = seedFromEnv();
    const count = Number(process.env.FUZZ_CASES ?? 10_000);
    t.diagnostic(`FUZZ_SEED=${seed} FUZZ_CASES=${count} (set them to replay this run)`);
    const { identity, recipient } = await generateAgeIdentity();
    const vault = createAgeVault({ identities: [identity], recipients: [recipient] });

    const targets: RealTarget[] = [];
    /** A closed target's audit trail must verify and hold exactly the events it recorded. */
    const finish = (target: RealTarget): void => {
      const verified = verifyAuditLog(target.root);
      assert.ok(verified.ok, `seed=${seed}: audit trail of ${target.root} broken: ${JSON.stringify(verified)}`);
      assert.equal(verified.count, target.events.length, `seed=${seed}: audit files hold ${verified.count} events, ${target.events.length} recorded`);
      const indexed = target.store.queryAudit({ limit: 100_000 });
      assert.equal(indexed.length, target.events.length, `seed=${seed}: the index holds ${indexed.length} audit events`);
      assert.equal(indexed[0]?.hash, target.events.at(-1)?.hash);
      // The index must answer exactly what a rebuild from the files answers.
      const before = JSON.stringify([target.store.listApps(), ...target.store.listApps().map((a) => [target.store.listReleases(a.name, 1000), target.store.listConfigVersions(a.name), target.store.listDomains(a.name)])]);
      const rebuilt = target.store.rebuildIndex();
      assert.deepEqual(rebuilt.problems, [], `seed=${seed}: files the store wrote fail their schema`);
      const afterRebuild = JSON.stringify([target.store.listApps(), ...target.store.listApps().map((a) => [target.store.listReleases(a.name, 1000), target.store.listConfigVersions(a.name), target.store.listDomains(a.name)])]);
      assert.equal(hashOf(afterRebuild), hashOf(before), `seed=${seed}: ${target.root}: the index differs from a rebuild`);
      target.store.close();
    };

    const started = performance.now();
    const report = await runFuzz({
      seed,
      count,
      resetEvery: 500,
      makeTarget: async () => {
        const previous = targets.at(-1);
        if (previous) {
          finish(previous);
          rmSync(previous.root, { recursive: true, force: true });
        }
        const target = await realTarget(vault, dirs);
        targets.push(target);
        return target;
      },
    });
    const last = targets.at(-1);
    if (last) finish(last);
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`${report.cases} cases in ${seconds.toFixed(1)} s over ${targets.length} state dirs: ${JSON.stringify(report)}`);

    assert.equal(report.cases, count);
    assert.ok((report.exitCodes['0'] ?? 0) > count / 20, JSON.stringify(report.exitCodes));
    assert.ok((report.exitCodes['1'] ?? 0) > count / 10, JSON.stringify(report.exitCodes));
    for (const kind of ['valid', 'mutated', 'random', 'unicode', 'flag-soup']) assert.ok((report.byKind[kind] ?? 0) > 0, kind);
  });
});
