/**
 * How the rollout engine waits for health and what it starts ahead of the pipeline steps: a
 * scripted probe and a recording sleep, so the intervals and the supervisor calls are exact.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRolloutEngine, type RolloutEngine } from '../../../src/core/deploy/rollout-engine.ts';
import { DeployStepError } from '../../../src/core/errors.ts';
import { silentLogger, systemClock } from '../../../src/core/ports/clock.ts';
import type { StateStore } from '../../../src/core/ports/store.ts';
import { createServices } from '../../../src/core/services/create-services.ts';
import type { Services } from '../../../src/core/services/types.ts';
import { createFakeRouter } from '../../../src/adapters/caddy/fake-router.ts';
import { createFakeProbe, type FakeProbe } from '../../../src/adapters/http-probe/fake-probe.ts';
import { FakeImages } from '../../../src/adapters/podman/fake-images.ts';
import { FakeSupervisor } from '../../../src/adapters/podman/fake-supervisor.ts';
import { createAgeVault } from '../../../src/store/sops/age-vault.ts';
import { generateAgeIdentity } from '../../../src/store/sops/age-keys.ts';
import { renderEnvFile } from '../../../src/store/sops/env-file.ts';
import { openStateStore } from '../../../src/store/state-store.ts';
import { instancePort } from '../../../src/core/deploy/instance-ports.ts';
import { alice, recordingEdge } from './harness.ts';

const IMAGE = '127.0.0.1:5000/poll:v1';

describe('rollout engine: health polling and work started ahead', () => {
  let root: string;
  let store: StateStore;
  let services: Services;
  let engine: RolloutEngine;
  let probe: FakeProbe;
  let supervisor: FakeSupervisor;
  let images: FakeImages;
  const sleeps: number[] = [];
  /** Runs during the next pause of the engine (then clears itself). */
  let duringNextSleep: (() => Promise<void>) | null = null;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'pvdify-poll-'));
    store = openStateStore({ root, clock: systemClock, log: silentLogger });
    const { identity, recipient } = await generateAgeIdentity();
    const vault = createAgeVault({ identities: [identity], recipients: [recipient] });
    probe = createFakeProbe();
    supervisor = new FakeSupervisor();
    images = new FakeImages();
    engine = createRolloutEngine({
      store,
      vault,
      clock: systemClock,
      log: silentLogger,
      supervisor,
      images,
      router: createFakeRouter(),
      edge: recordingEdge(),
      probe,
      snapshots: { create: async () => '/snapshots/1' },
      renderEnvFile,
      timing: { healthDeadlineMs: 60_000, healthIntervalMs: 250, drainMs: 0, workerSettleMs: 0 },
      // Instant and recorded: the test sees every interval the engine asked for.
      sleep: async (ms) => {
        sleeps.push(ms);
        const hook = duringNextSleep;
        duringNextSleep = null;
        await hook?.();
      },
    });
    services = createServices({ store, vault, clock: systemClock, log: silentLogger, engine });
  });
  after(async () => {
    await supervisor.close();
    store.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('polls a starting instance at a short constant interval and asks the supervisor once, not every 4th probe', async () => {
    const app = services.apps.create('poll', undefined, alice);
    probe.script(instancePort(app.bind_port, 'blue', 1), [...Array<'refused'>(12).fill('refused'), 200]);
    const listsBefore = supervisor.calls.filter((c) => c.method === 'list').length;
    const release = await engine.deploy('poll', IMAGE, alice);
    assert.equal(release.status, 'succeeded');
    assert.equal(sleeps.length, 12, 'one pause after each failed probe');
    assert.ok(sleeps.every((ms) => ms === 25), `pauses: ${sleeps.join(',')}`);
    // The state check is throttled to once a second; instant sleeps keep the test within one.
    assert.equal(supervisor.calls.filter((c) => c.method === 'list').length - listsBefore, 1);
  });

  it('still fails at once when the container exits while it is polled', async () => {
    const port = instancePort(store.getApp('poll')!.bind_port, 'green', 1);
    probe.script(port, ['refused']);
    sleeps.length = 0;
    duringNextSleep = () => supervisor.crash({ app: 'poll', process: 'web', colour: 'green', index: 1 });
    await assert.rejects(engine.deploy('poll', IMAGE, alice), (e: unknown) => {
      assert.ok(e instanceof DeployStepError);
      assert.equal(e.step, 'health');
      assert.match(e.message, /exited before it became healthy/);
      return true;
    });
    assert.ok(sleeps.length <= 4, `gave up after ${sleeps.length} pauses, not at the deadline`);
    assert.equal(store.getApp('poll')?.current_release, 1);
  });

  it('reports a pull that failed while the snapshot ran at the pull step, with nothing started', async () => {
    const missing = '127.0.0.1:5000/poll:missing';
    images.failPull(missing);
    const starts = supervisor.calls.filter((c) => c.method === 'start').length;
    await assert.rejects(engine.deploy('poll', missing, alice), (e: unknown) => e instanceof DeployStepError && e.step === 'pull');
    assert.equal(supervisor.calls.filter((c) => c.method === 'start').length, starts);
    assert.equal(store.getApp('poll')?.current_release, 1);
  });
});
