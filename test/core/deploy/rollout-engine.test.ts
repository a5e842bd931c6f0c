import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { DeployStepError, InvalidInputError, LockedError } from '../../../src/core/errors.ts';
import { instancePort } from '../../../src/core/deploy/instance-ports.ts';
import { alice, createHarness, get, upstreamsOf, type Harness } from './harness.ts';

const V1 = '127.0.0.1:5000/shop:v1';
const V2 = '127.0.0.1:5000/shop:v2';
const BAD = '127.0.0.1:5000/shop:broken';

describe('rollout engine (fakes + real store, vault and HTTP probe)', () => {
  let h: Harness;
  let bindPort: number;

  before(async () => {
    h = await createHarness();
  });
  after(async () => {
    await h.close();
  });

  beforeEach(() => {
    h.supervisor.clearFailures();
    h.images.clearFailures();
  });

  it('deploys v1: pull, env file, start blue, health, route, release succeeded', async () => {
    const app = await h.services.apps.create('shop', undefined, alice);
    bindPort = app.bind_port;
    // Creating the app sets up the web slot of both colours ahead of its first deploy.
    assert.deepEqual(h.supervisor.calls.filter((c) => c.method === 'syncSlots'), [
      {
        method: 'syncSlots',
        app: 'shop',
        keep: [
          { process: 'web', colour: 'blue', index: 1, hostPort: instancePort(bindPort, 'blue', 1) },
          { process: 'web', colour: 'green', index: 1, hostPort: instancePort(bindPort, 'green', 1) },
        ],
      },
    ]);
    await h.services.config.set('shop', [['GREETING', 'hello-world']], alice);
    const steps: string[] = [];
    const release = await h.engine.deploy('shop', V1, alice, { onProgress: (e) => e.status === 'ok' && steps.push(e.step) });
    assert.equal(release.status, 'succeeded');
    assert.equal(release.version, 1);
    assert.equal(release.created_by, 'cli:alice');
    assert.deepEqual(steps, ['snapshot', 'pull', 'env', 'start', 'health', 'switch', 'finish']);
    const slot = h.store.getApp('shop');
    assert.equal(slot?.status, 'running');
    assert.equal(slot?.image, V1);
    assert.equal(slot?.current_release, 1);
    assert.equal(slot?.deployment?.colour, 'blue');
    const port = instancePort(bindPort, 'blue', 1);
    assert.deepEqual(upstreamsOf(h.router, 'shop'), [port]);
    assert.equal((await get(port)).body.trim(), V1);
    const env = join(h.root, 'config', 'shop', 'current.env');
    assert.match(readFileSync(env, 'utf8'), /^GREETING=hello-world$/m);
    assert.equal(statSync(env).mode & 0o777, 0o600);
    assert.deepEqual(h.snapshots, ['shop v1']);
    assert.equal(h.supervisor.specOf({ app: 'shop', process: 'web', colour: 'blue', index: 1 })?.envFile, join(h.root, 'config', 'shop', 'blue.env'));
  });

  it('deploys v2 on the other colour, switches, then stops the old colour', async () => {
    const release = await h.engine.deploy('shop', V2, alice);
    assert.equal(release.version, 2);
    const green = instancePort(bindPort, 'green', 1);
    assert.deepEqual(upstreamsOf(h.router, 'shop'), [green]);
    assert.equal((await get(green)).body.trim(), V2);
    const states = await h.supervisor.list('shop');
    assert.deepEqual(states.map((s) => s.colour), ['green']);
    assert.equal(h.store.getRelease('shop', 1)?.status, 'superseded');
    // The switch happened before the old colour stopped.
    const calls = h.supervisor.calls.map((c) => c.method);
    assert.ok(calls.lastIndexOf('stop') > calls.lastIndexOf('start'));
    assert.equal(calls.filter((c) => c === 'syncSlots').length, 1, 'same process counts: no slot changes after apps:create');
  });

  it('fails an unhealthy release at health: new colour stopped, v2 still routed, release failed with the log tail', async () => {
    h.supervisor.setHealth(BAD, 500);
    await assert.rejects(h.engine.deploy('shop', BAD, alice), (e: unknown) => {
      assert.ok(e instanceof DeployStepError);
      assert.equal(e.step, 'health');
      assert.match(e.message, /v3 of shop failed at health/);
      assert.match(e.hint ?? '', /v2 is still serving/);
      assert.ok(e.logTail.some((l) => l.includes('/health 500')), e.logTail.join('\n'));
      return true;
    });
    const r3 = h.store.getRelease('shop', 3);
    assert.equal(r3?.status, 'failed');
    assert.equal(r3?.error?.step, 'health');
    assert.deepEqual(upstreamsOf(h.router, 'shop'), [instancePort(bindPort, 'green', 1)]);
    assert.deepEqual((await h.supervisor.list('shop')).map((s) => s.colour), ['green']);
    const slot = h.store.getApp('shop');
    assert.equal(slot?.status, 'running');
    assert.equal(slot?.current_release, 2);
    assert.equal((await get(instancePort(bindPort, 'green', 1))).body.trim(), V2);
  });

  it('fails at pull without starting anything', async () => {
    h.images.failPull('127.0.0.1:5000/shop:missing');
    const before = h.supervisor.calls.filter((c) => c.method === 'start').length;
    await assert.rejects(h.engine.deploy('shop', '127.0.0.1:5000/shop:missing', alice), (e: unknown) => e instanceof DeployStepError && e.step === 'pull');
    assert.equal(h.supervisor.calls.filter((c) => c.method === 'start').length, before);
    assert.equal(h.store.getRelease('shop', 4)?.status, 'failed');
    assert.equal(h.store.getApp('shop')?.current_release, 2);
  });

  it('puts the old routes back when the router refuses the switch', async () => {
    h.router.failNextApply('admin API said no');
    await assert.rejects(h.engine.deploy('shop', V1, alice), (e: unknown) => e instanceof DeployStepError && e.step === 'switch');
    assert.equal(h.store.getApp('shop')?.deployment?.colour, 'green');
    assert.deepEqual(upstreamsOf(h.router, 'shop'), [instancePort(bindPort, 'green', 1)]);
    assert.deepEqual((await h.supervisor.list('shop')).map((s) => s.colour), ['green']);
  });

  it('refuses a bad image reference before creating a release', async () => {
    const count = h.store.listReleases('shop', 100).length;
    for (const bad of ['-rm', 'img name', 'a;rm -rf /', 'x'.repeat(300), '$(id)', 'UPPER/Case']) {
      await assert.rejects(h.engine.deploy('shop', bad, alice), InvalidInputError);
    }
    assert.equal(h.store.listReleases('shop', 100).length, count);
  });

  it('refuses a second rollout of the same app while one holds the lock, naming the holder', async () => {
    const lock = h.store.acquireAppLock('shop', 'cli:bob', 'deploy');
    try {
      await assert.rejects(h.engine.deploy('shop', V1, alice), (e: unknown) => e instanceof LockedError && /cli:bob/.test(e.message));
    } finally {
      lock.release();
    }
  });

  it('rolls back to the release before the current one (v1) with its image and config', async () => {
    const r = await h.engine.rollback('shop', undefined, alice);
    assert.equal(r.kind, 'rollback');
    assert.equal(r.rollback_of, 1);
    assert.equal(r.image, V1);
    assert.equal(r.description, 'Rollback to v1');
    assert.equal(r.status, 'succeeded');
    assert.equal((await get(upstreamsOf(h.router, 'shop')[0] as number)).body.trim(), V1);
  });

  it('makes a config change a new release on the same image, rolled out', async () => {
    const change = await h.services.config.set('shop', [['API_KEY', 'sekrit-value-123']], alice);
    assert.ok(change.release);
    assert.equal(change.release.kind, 'config');
    assert.equal(change.release.status, 'succeeded');
    assert.equal(change.release.image, V1);
    assert.equal(change.release.description, 'Set API_KEY');
    const slot = h.store.getApp('shop');
    const envFile = join(h.root, 'config', 'shop', `${slot?.deployment?.colour}.env`);
    assert.match(readFileSync(envFile, 'utf8'), /^API_KEY=sekrit-value-123$/m);
  });

  it('masks config values in logs', async () => {
    const slot = h.store.getApp('shop');
    h.supervisor.print({ app: 'shop', process: 'web', colour: slot?.deployment?.colour ?? 'blue', index: 1 }, 'connecting with key sekrit-value-123 now');
    const lines = await h.engine.logs('shop', { lines: 50 });
    const joined = lines.map((l) => l.message).join('\n');
    assert.ok(!joined.includes('sekrit-value-123'));
    assert.match(joined, /connecting with key \*\*\* now/);
  });

  it('scales web to 3 (new instances routed once healthy) and back to 1', async () => {
    const colour = h.store.getApp('shop')?.deployment?.colour ?? 'blue';
    await h.engine.scale('shop', { web: 3 }, alice);
    const ports = [1, 2, 3].map((i) => instancePort(bindPort, colour, i));
    assert.deepEqual(upstreamsOf(h.router, 'shop'), ports);
    for (const p of ports) assert.equal((await get(p, '/health')).status, 200);
    assert.equal(h.store.getApp('shop')?.processes.web?.count, 3);
    await h.engine.scale('shop', { web: 1 }, alice);
    assert.deepEqual(upstreamsOf(h.router, 'shop'), [ports[0]]);
    assert.equal((await h.supervisor.list('shop')).length, 1);
    // Slots 2 and 3 are freed in both colours; slot 1 of each colour is kept.
    const released = h.supervisor.calls.filter((c) => c.method === 'syncSlots').at(-1);
    assert.deepEqual(released, {
      method: 'syncSlots',
      app: 'shop',
      keep: [
        { process: 'web', colour: 'blue', index: 1, hostPort: instancePort(bindPort, 'blue', 1) },
        { process: 'web', colour: 'green', index: 1, hostPort: instancePort(bindPort, 'green', 1) },
      ],
    });
  });

  it('refuses absurd scale requests and changes nothing', async () => {
    await assert.rejects(h.engine.scale('shop', { web: 21 }, alice), InvalidInputError);
    await assert.rejects(h.engine.scale('shop', { web: -1 }, alice), InvalidInputError);
    await assert.rejects(h.engine.scale('shop', { nope: 1 }, alice), InvalidInputError);
    await assert.rejects(h.engine.scale('shop', { constructor: 1 }, alice), InvalidInputError);
    assert.equal(h.store.getApp('shop')?.processes.web?.count, 1);
  });

  it('restarts with a surge instance so a single web instance never leaves the router empty', async () => {
    const before = h.router.applied.length;
    const n = await h.engine.restart('shop', undefined, alice);
    assert.equal(n, 1);
    const tables = h.router.applied.slice(before).map((t) => t.find((r) => r.app === 'shop')?.upstreams ?? []);
    assert.ok(tables.length >= 2);
    for (const t of tables) assert.ok(t.length >= 1, 'the router always had an upstream');
    assert.equal((await h.supervisor.list('shop')).length, 1, 'the surge instance is gone');
  });

  it('keeps the images of the last 3 releases for prune', () => {
    const keep = h.engine.imagesToKeep(3);
    for (const r of h.store.listReleases('shop', 3)) assert.ok(keep.includes(r.image));
  });

  it('recovers after a crash mid-deploy: interrupted release failed, orphan colour stopped, routes re-applied', async () => {
    const slot = h.store.getApp('shop');
    assert.ok(slot?.deployment);
    const orphanColour = slot.deployment.colour === 'blue' ? 'green' : 'blue';
    const r = h.store.createRelease({
      app: 'shop', kind: 'deploy', image: V2, config_version: slot.config_version, description: `Deploy ${V2}`,
      source: 'cli', created_by: 'cli:alice', created_by_name: 'alice', approved_by: null, rollback_of: null,
    });
    h.store.updateReleaseStatus('shop', r.version, { status: 'deploying' });
    await h.supervisor.start({
      app: 'shop', process: 'web', colour: orphanColour, index: 1, image: V2, command: null,
      hostPort: instancePort(bindPort, orphanColour, 1), envFile: '/dev/null', memory: null, cpu: null, release: r.version,
    });
    const report = await h.engine.recover();
    assert.deepEqual(report.interrupted, [{ app: 'shop', version: r.version }]);
    assert.equal(report.orphansStopped.length, 1);
    assert.equal(h.store.getRelease('shop', r.version)?.status, 'failed');
    assert.deepEqual((await h.supervisor.list('shop')).map((s) => s.colour), [slot.deployment.colour]);
    assert.deepEqual(upstreamsOf(h.router, 'shop'), [instancePort(bindPort, slot.deployment.colour, 1)]);
  });

  it('marks domains active after the edge routes them, and deletes everything with the app', async () => {
    const row = await h.services.domains.add('shop', 'shop.example.com', alice);
    assert.equal(row.status, 'active');
    assert.equal(row.cf_record_id, 'rec-shop.example.com');
    assert.deepEqual(h.edge.applied.at(-1), [{ hostname: 'shop.example.com', bindPort }]);
    await h.services.apps.delete('shop', 'shop', alice);
    assert.equal(h.store.getApp('shop'), null);
    assert.deepEqual(await h.supervisor.list('shop'), []);
    assert.deepEqual(h.supervisor.calls.filter((c) => c.method === 'syncSlots').at(-1), { method: 'syncSlots', app: 'shop', keep: [] }, 'every slot freed');
    assert.deepEqual(h.edge.applied.at(-1), []);
    assert.equal(h.router.applied.at(-1)?.find((r) => r.app === 'shop'), undefined);
  });
});

describe('rollout engine: interrupted rollouts', () => {
  it('a deploy after a killed one marks the interrupted release failed and clears its orphan colour', async () => {
    const h = await createHarness();
    try {
      const app = await h.services.apps.create('tidy', undefined, alice);
      await h.engine.deploy('tidy', V1, alice);
      // What a CLI killed mid-health leaves: a release `deploying` and an instance of the other colour.
      const r = h.store.createRelease({
        app: 'tidy', kind: 'deploy', image: V2, config_version: null, description: `Deploy ${V2}`,
        source: 'cli', created_by: 'cli:bob', created_by_name: 'bob', approved_by: null, rollback_of: null,
      });
      h.store.updateReleaseStatus('tidy', r.version, { status: 'deploying' });
      h.store.updateApp('tidy', (a) => ({ ...a, status: 'deploying' }));
      await h.supervisor.start({
        app: 'tidy', process: 'web', colour: 'green', index: 1, image: V2, command: null,
        hostPort: instancePort(app.bind_port, 'green', 1), envFile: '/dev/null', memory: null, cpu: null, release: r.version,
      });
      const next = await h.engine.deploy('tidy', V2, alice);
      assert.equal(next.status, 'succeeded');
      assert.equal(h.store.getRelease('tidy', r.version)?.status, 'failed');
      assert.equal(h.store.getRelease('tidy', r.version)?.error?.step, 'interrupted');
      assert.equal(h.store.getApp('tidy')?.status, 'running');
    } finally {
      await h.close();
    }
  });
});

describe('rollout engine with router "none"', () => {
  it('publishes bind_port directly, stops the old instance first, and refuses web > 1', async () => {
    const h = await createHarness({ routerKind: 'none' });
    try {
      const app = await h.services.apps.create('solo', undefined, alice);
      await h.engine.deploy('solo', V1, alice);
      assert.equal((await get(app.bind_port)).body.trim(), V1);
      const steps: string[] = [];
      await h.engine.deploy('solo', V2, alice, { onProgress: (e) => e.status === 'ok' && steps.push(e.step) });
      assert.ok(steps.indexOf('drain') < steps.indexOf('start'), `old instance stopped before the new one: ${steps.join(',')}`);
      assert.equal((await get(app.bind_port)).body.trim(), V2);
      assert.equal(h.router.applied.length, 0, 'nothing is sent to a router');
      await assert.rejects(h.engine.scale('solo', { web: 2 }, alice), InvalidInputError);
      // A failed release brings the previous instance back on bind_port.
      h.supervisor.setHealth(BAD, 500);
      await assert.rejects(h.engine.deploy('solo', BAD, alice), (e: unknown) => e instanceof DeployStepError && e.step === 'health');
      assert.equal((await get(app.bind_port)).body.trim(), V2);
    } finally {
      await h.close();
    }
  });
});

describe('rollout engine: image prune', () => {
  it('removes old unused images but never those of the last 3 releases', async () => {
    const h = await createHarness();
    try {
      await h.services.apps.create('keep', undefined, alice);
      const tags = ['k1', 'k2', 'k3', 'k4'].map((t) => `127.0.0.1:5000/keep:${t}`);
      for (const tag of tags) await h.engine.deploy('keep', tag, alice);
      h.images.add('docker.io/library/unrelated:old', { created: new Date('2020-01-01T00:00:00Z') });
      const r = await h.engine.pruneImages('0s');
      // k1 is the 4th newest release: prunable. k2–k4 are the last three (k4 runs).
      assert.deepEqual([...r.removed].sort(), ['127.0.0.1:5000/keep:k1', 'docker.io/library/unrelated:old'].sort());
      assert.deepEqual([...r.kept].sort(), tags.slice(1).sort());
      assert.deepEqual(h.images.calls.filter((c) => c.method === 'prune'), [{ method: 'prune', until: '0s', keep: r.kept }]);
      for (const t of tags.slice(1)) assert.ok(await h.images.exists(t), `${t} was pruned`);
    } finally {
      await h.close();
    }
  });
});

describe('rollout engine: config version of a deploy', () => {
  it('ships the newest config version even when the slot copy lags (crash between the two writes)', async () => {
    const h = await createHarness();
    try {
      await h.services.apps.create('lag', undefined, alice);
      await h.services.config.set('lag', [['A', 'one']], alice);
      // What a crash after writing v2 but before updating the slot leaves behind.
      const sops = h.store.readConfigVersion('lag', 1);
      const v2 = h.store.writeConfigVersion('lag', sops, ['A']);
      assert.equal(h.store.getApp('lag')?.config_version, 1);
      const r = await h.engine.deploy('lag', V1, alice);
      assert.equal(r.config_version, v2);
    } finally {
      await h.close();
    }
  });
});
