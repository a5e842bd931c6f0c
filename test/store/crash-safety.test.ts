/**
 * Crash safety: a writer process doing every kind of mutation is SIGKILLed at seeded random
 * points, over and over (≥ 200 kills). About a third of the kills are self-inflicted right after
 * a mutation's files are in place and before the index commit, the window crash recovery is for;
 * the rest land wherever a random delay puts them. After every kill:
 *
 *   - every state file parses and passes its schema (no half-written file);
 *   - reopening the store repairs the index and removes temp files;
 *   - every read method answers the same as after a fresh rebuild from the files;
 *   - the audit chain verifies and has as many events as the index.
 *
 * Two lanes (separate state dirs) run side by side, and each pre-starts its next writer while it
 * checks the previous one's state, so tsx start-up time overlaps the checks.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isTempFileName } from '../../src/store/atomic-file.ts';
import { verifyAuditLog } from '../../src/store/audit-log.ts';
import { openStateStore } from '../../src/store/state-store.ts';
import { classifyRel, loadAppFile, loadApprovalFile, loadConfigFile, loadReleaseFile } from '../../src/store/state-files.ts';
import { findTempFiles, recordingLogger, snapshotStore, tempDir } from './helpers.ts';
import { mulberry32 } from '../support/prng.ts';

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const APPS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
const LANES = 2;
const KILLS_PER_LANE = 101;

interface Victim {
  child: ChildProcessWithoutNullStreams;
  killAfterFiles: number;
  delayMs: number;
  waitFor(line: string): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function spawnVictim(t: TestContext, root: string, seed: number, killAfterFiles: number, delayMs: number): Victim {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, root, String(seed), String(killAfterFiles)], { cwd: REPO, stdio: 'pipe' });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return {
    child,
    killAfterFiles,
    delayMs,
    exited,
    waitFor: (line) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (out.split('\n').includes(line)) {
            child.stdout.off('data', onData);
            resolve();
            return true;
          }
          return false;
        };
        const onData = (d: Buffer): void => {
          out += d.toString();
          check();
        };
        if (check()) return;
        child.stdout.on('data', onData);
        void exited.then((e) => reject(new Error(`writer exited before "${line}" (${e.code ?? e.signal}): ${e.stderr}`)));
      }),
  };
}

/** Every state file on disk (temp files aside) loads and passes its schema. */
function assertNoBrokenFiles(root: string): void {
  for (const dir of ['apps', 'approvals']) {
    for (const name of readdirSync(join(root, dir))) {
      if (isTempFileName(name)) continue;
      const ref = classifyRel(`${dir}/${name}`);
      assert.ok(ref, `unexpected file ${dir}/${name}`);
      const r = ref.kind === 'app' ? loadAppFile(root, ref.name) : ref.kind === 'approval' ? loadApprovalFile(root, ref.id) : null;
      assert.ok(r?.ok, `${dir}/${name}: ${r && !r.ok ? r.message : 'not loadable'}`);
    }
  }
  for (const top of ['releases', 'config']) {
    for (const app of readdirSync(join(root, top))) {
      for (const name of readdirSync(join(root, top, app))) {
        if (isTempFileName(name)) continue;
        const ref = classifyRel(`${top}/${app}/${name}`);
        assert.ok(ref, `unexpected file ${top}/${app}/${name}`);
        if (ref.kind === 'release') {
          const r = loadReleaseFile(root, ref.app, ref.version);
          assert.ok(r.ok, `${top}/${app}/${name}: ${r.ok ? '' : r.message}`);
        } else if (ref.kind === 'config') {
          const r = loadConfigFile(root, ref.app, ref.version);
          assert.ok(r.ok, `${top}/${app}/${name}: ${r.ok ? '' : r.message}`);
        }
      }
    }
  }
}

interface LaneStats {
  kills: number;
  repairs: number;
  tempFilesSeen: number;
  events: number;
}

async function runLane(t: TestContext, lane: number): Promise<LaneStats> {
  const root = tempDir(t, `pvdify-crash-${lane}-`);
  const rand = mulberry32(1000 + lane);
  const stats: LaneStats = { kills: 0, repairs: 0, tempFilesSeen: 0, events: 0 };
  const next = (): Victim => {
    const hooked = rand() < 0.35;
    return spawnVictim(t, root, Math.floor(rand() * 1e9), hooked ? 1 + Math.floor(rand() * 25) : 0, Math.floor(rand() * 60));
  };
  let victim = next();
  for (let i = 0; i < KILLS_PER_LANE; i++) {
    await victim.waitFor('loaded');
    victim.child.stdin.write('go\n');
    await victim.waitFor('ready');
    if (victim.killAfterFiles > 0) {
      const timer = setTimeout(() => victim.child.kill('SIGKILL'), 10_000);
      await victim.exited;
      clearTimeout(timer);
    } else {
      await sleep(victim.delayMs);
      victim.child.kill('SIGKILL');
    }
    const exit = await victim.exited;
    assert.equal(exit.signal, 'SIGKILL', `writer ended by itself (code ${exit.code}): ${exit.stderr}`);
    stats.kills += 1;
    const following = i + 1 < KILLS_PER_LANE ? next() : null;

    assertNoBrokenFiles(root);
    stats.tempFilesSeen += findTempFiles(root).length;
    const log = recordingLogger();
    const store = openStateStore({ root, clock: { now: () => new Date() }, log });
    try {
      stats.repairs += log.warnings().filter((w) => /repairing after an interrupted write/.test(w)).length;
      assert.deepEqual(findTempFiles(root), [], 'reopening removes temp files');
      const repaired = snapshotStore(store, APPS);
      assert.deepEqual(repaired.problems, []);
      store.rebuildIndex();
      assert.deepEqual(snapshotStore(store, APPS), repaired, `kill ${i} of lane ${lane}: the repaired index differs from a rebuild`);
      const audit = verifyAuditLog(root);
      assert.ok(audit.ok, audit.ok ? '' : audit.problem);
      assert.equal(audit.count, repaired.audit.length);
      stats.events = audit.count;
    } finally {
      store.close();
    }
    if (following) victim = following;
  }
  return stats;
}

describe('crash safety', () => {
  it(`keeps files and index consistent across ${LANES * KILLS_PER_LANE} SIGKILLs of a busy writer`, { timeout: 300_000 }, async (t) => {
    const started = performance.now();
    const lanes = await Promise.all(Array.from({ length: LANES }, (_, lane) => runLane(t, lane)));
    const total = lanes.reduce((a, s) => ({ kills: a.kills + s.kills, repairs: a.repairs + s.repairs, tempFilesSeen: a.tempFilesSeen + s.tempFilesSeen, events: a.events + s.events }));
    t.diagnostic(
      `${total.kills} kills, ${total.repairs} interrupted writes repaired, ${total.tempFilesSeen} temp files found, ${total.events} audit events, ${Math.round((performance.now() - started) / 1000)} s`,
    );
    assert.ok(total.kills >= 200);
    assert.ok(total.repairs >= 50, `only ${total.repairs} kills landed inside a write`);
  });
});
