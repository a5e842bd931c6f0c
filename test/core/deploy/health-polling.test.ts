/**
 * How the rollout engine waits for health and what it starts ahead of the pipeline steps: a
 * scripted probe and a recording sleep, so the intervals and the supervisor calls are exact.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RolloutEngine } from '../../../src/core/deploy/rollout-engine.ts';
import { DeployStepError } from '../../../src/core/errors.ts';
import type { StateStore } from '../../../src/core/ports/store.ts';
import type { Services } from '../../../src/core/services/types.ts';
import { createFakeProbe, type FakeProbe } from '../../../src/adapters/http-probe/fake-probe.ts';
import type { FakeImages } from '../../../src/adapters/podman/fake-images.ts';
import type { FakeSupervisor } from '../../../src/adapters/podman/fake-supervisor.ts';
import { instancePort } from '../../../src/core/deploy/instance-ports.ts';
import { alice, createHarness, type Harness } from './harness.ts';

const IMAGE = '127.0.0.1:5000/poll:v1';

describe('rollout engine: health polling and work started ahead', () => {
  let h: Harness;
  let store: StateStore;
  let services: Services;
  let engine: RolloutEngine;
  let supervisor: FakeSupervisor;
  let images: FakeImages;
  const probe: FakeProbe = createFakeProbe();
  const sleeps: number[] = [];
  /** Runs during the next pause of the engine (then clears itself). */
  let duringNextSleep: (() => Promise<void>) | null = null;

  before(async () => {
    h = await createHarness({
      probe,
      timing: { healthDeadlineMs: 60_000, healthIntervalMs: 250, drainMs: 0, workerSettleMs: 0 },
      // Instant and recorded: the test sees every interval the engine asked for.
      sleep: async (ms) => {
        sleeps.push(ms);
        const hook = duringNextSleep;
        duringNextSleep = null;
        await hook?.();
      },
    });
    ({ store, services, engine, supervisor, images } = h);
  });
  after(() => h.close());

  it('polls a starting instance at a short constant interval and asks the supervisor once, not every 4th probe', async () => {
    const app = await services.apps.create('poll', undefined, alice);
    probe.script(instancePort(app.bind_port, 'blue', 1), [...Array<'refused'>(12).fill('refused'), 200]);
    const listsBefore = supervisor.calls.filter((c) => c.method === 'list').length;
    const release = await engine.deploy('poll', IMAGE, alice);
    assert.equal(release.status, 'succeeded');
    assert.equal(sleeps.length, 12, 'one pause after each failed probe');
    assert.ok(sleeps.every((ms) => ms === 10), `pauses: ${sleeps.join(',')}`);
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
