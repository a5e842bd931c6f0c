/**
 * The whole rollout story through the real `pvdify` CLI, with real Podman (podman supervisor),
 * real Caddy as the router, busybox images pulled from a local registry, and every outcome
 * checked over HTTP on the app's router port:
 *
 *   deploy v1 → deploy v2 under load (no failed request) → unhealthy v3 fails at health, v2 still
 *   served → missing image fails at pull, v2 still served → rollback to v1 → config:set reaches
 *   the container → ps:scale web=3 spreads requests → ps:restart under load → ps, logs →
 *   domains:add → a deploy handed to a running pvdifyd over its control socket →
 *   apps:delete leaves no container and no listener.
 *
 * The steps share one app and run in order; each states what it expects from the one before.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PodmanCli } from '../../src/adapters/podman/podman-cli.ts';
import { appContainers, createCommandOf } from '../support/podman/cleanup.ts';
import { podmanTestEnv } from '../support/podman/env.ts';
import { get, waitForStatus } from '../support/podman/http.ts';
import { startRegistry, type TestRegistry } from '../support/registry/registry.ts';
import {
  acquireHostLock,
  assertAppPortsFree,
  createHarness,
  liveToolsMissing,
  prepareImages,
  removeImages,
  startDaemon,
  startLoad,
  type AppImage,
  type Harness,
  type LoadResult,
} from './support.ts';

interface ReleaseJson {
  version: number;
  status: string;
  description: string;
  image: string;
  error: { step: string; message: string } | null;
}

interface InstanceJson {
  process: string;
  index: number;
  colour: string;
  state: string;
  live: boolean;
  name: string;
  release: number | null;
}

const skip = liveToolsMissing({ registry: true });

describe('rollout through the pvdify CLI (podman + caddy + registry)', { skip, timeout: 300_000 }, () => {
  let h: Harness;
  let registry: TestRegistry | null = null;
  let releaseLock: (() => Promise<void>) | null = null;
  let images: Record<string, AppImage> = {};
  let app = '';
  let port = 0;

  const releases = async () => (await h.json<{ releases: ReleaseJson[] }>('releases', app)).releases;
  const release = async (v: number) => {
    const r = (await releases()).find((x) => x.version === v);
    assert.ok(r, `release v${v} is listed`);
    return r;
  };
  const instances = async () => (await h.json<{ instances: InstanceJson[] }>('ps', app)).instances;
  /** What the router answers on `/`, asserted to be a 200. */
  const served = async (): Promise<string> => {
    const r = await get(port, '/', 5000);
    assert.equal(r.status, 200, `GET / through the router: ${r.status} ${r.body.slice(0, 200)}`);
    return r.body.trim();
  };
  const assertNoFailures = (load: LoadResult, what: string, t?: { diagnostic(m: string): void }) => {
    t?.diagnostic(`${what}: ${load.total} requests, ${load.failed} failed, ${load.retried} re-sent after a keep-alive reset, ${Math.round(load.durationMs)} ms`);
    assert.ok(load.total >= 20, `the load loop ran during ${what} (${load.total} requests)`);
    assert.equal(load.failed, 0, `${load.failed}/${load.total} requests failed during ${what}: ${load.failures.join(' | ')}`);
  };

  before(async () => {
    releaseLock = await acquireHostLock();
    registry = await startRegistry();
    images = await prepareImages(
      [
        { name: 'v1', body: 'e2e app v1' },
        { name: 'v2', body: 'e2e app v2' },
        { name: 'v3-sick', body: 'e2e app v3 (no /health)', healthy: false },
      ],
      registry,
    );
    h = await createHarness({ healthDeadlineSeconds: 10, drainMs: 1000 });
    app = h.newAppName();
    await h.pvdifyOk('apps:create', app);
    port = await h.bindPort(app);
    await assertAppPortsFree(app, port);
  });

  after(async () => {
    const problems: unknown[] = [];
    for (const fn of [
      () => h?.dispose(),
      () => removeImages(Object.values(images).map((i) => i.ref)),
      () => registry?.stop(),
      () => releaseLock?.(),
    ]) {
      try {
        await fn();
      } catch (e) {
        problems.push(e);
      }
    }
    if (problems.length > 0) throw problems[0];
  });

  it('deploy v1: pulled from the registry, healthy, served through the router', async () => {
    const r = await h.pvdify('deploy', app, images.v1!.ref);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${app} v1 is live`));
    assert.match(r.stderr, /ok\s+pull/);
    assert.match(r.stderr, /ok\s+switch/);
    assert.equal(await served(), images.v1!.body);
    assert.equal((await release(1)).status, 'succeeded');
  });

  it('deploy v2 under load: no failed request, traffic moves from v1 to v2', async (t) => {
    const load = startLoad({ port, concurrency: 2, pauseMs: 5, maxRequests: 20_000, maxMs: 90_000 });
    const r = await h.pvdify('deploy', app, images.v2!.ref);
    // Requests keep going a moment after the switch, through the drain and the old colour's stop.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const result = await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assertNoFailures(result, 'deploy v2', t);
    assert.ok((result.bodies.get(images.v1!.body) ?? 0) > 0, 'v1 answered before the switch');
    assert.ok((result.bodies.get(images.v2!.body) ?? 0) > 0, 'v2 answered after the switch');
    assert.deepEqual([...result.bodies.keys()].sort(), [images.v1!.body, images.v2!.body].sort());
    assert.equal(await served(), images.v2!.body);
    assert.equal((await release(1)).status, 'superseded');
    assert.equal((await release(2)).status, 'succeeded');
    const list = await instances();
    assert.deepEqual(
      list.map((i) => [i.process, i.index, i.state, i.live, i.release]),
      [['web', 1, 'running', true, 2]],
      'only the new colour is left running',
    );
  });

  it('an unhealthy v3 fails at the health step; v2 keeps serving', async (t) => {
    const load = startLoad({ port, concurrency: 1, pauseMs: 20, maxRequests: 5000, maxMs: 60_000 });
    const r = await h.pvdify('deploy', app, images['v3-sick']!.ref);
    const result = await load.stop();
    assert.notEqual(r.code, 0, 'the CLI reports the failure in its exit code');
    assert.match(r.stderr, /FAIL\s+health/, 'the progress lines show the failed step');
    assert.match(r.stderr, /error: release v3 of \S+ failed at health/);
    assert.match(r.stderr, /v2 is still serving/);
    // The reply shows what the failed instance printed (DESIGN §3): busybox logging the 404s.
    assert.match(r.stderr, /last log lines of the new instances:\n(\s+\|.*\n)*\s+\| .*response:404/);
    assertNoFailures(result, 'the failed deploy', t);
    assert.deepEqual([...result.bodies.keys()], [images.v2!.body], 'only v2 answered throughout');
    const v3 = await release(3);
    assert.equal(v3.status, 'failed');
    assert.equal(v3.error?.step, 'health');
    assert.equal((await release(2)).status, 'succeeded');
    assert.equal(await served(), images.v2!.body);
    const list = await instances();
    assert.deepEqual(list.map((i) => [i.index, i.live, i.release]), [[1, true, 2]], 'the failed colour was stopped');
  });

  it('an image that does not exist fails at the pull step; v2 keeps serving', async () => {
    const missing = images.v1!.ref.replace(/:v1$/, ':does-not-exist');
    const r = await h.pvdify('deploy', app, missing);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /FAIL\s+pull/);
    assert.match(r.stderr, /failed at pull/);
    const v4 = await release(4);
    assert.equal(v4.status, 'failed');
    assert.equal(v4.error?.step, 'pull');
    assert.equal(await served(), images.v2!.body);
  });

  it('rollback goes to the release before the current one (v1) as a new release', async () => {
    const r = await h.pvdify('rollback', app);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await served(), images.v1!.body);
    const v5 = await release(5);
    assert.equal(v5.status, 'succeeded');
    assert.equal(v5.description, 'Rollback to v1');
    assert.equal(v5.image, images.v1!.ref);
    assert.equal((await release(2)).status, 'superseded');
  });

  it('config:set makes a new release whose env reaches the container, without a failed request', async (t) => {
    const load = startLoad({ port, concurrency: 2, pauseMs: 5, maxRequests: 20_000, maxMs: 90_000 });
    const r = await h.pvdify('config:set', app, 'GREETING=hello');
    const result = await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assertNoFailures(result, 'config:set', t);
    const env = await get(port, '/cgi-bin/env', 5000);
    assert.equal(env.status, 200);
    assert.match(env.body, /^GREETING=hello$/m);
    assert.match(env.body, /^PORT=3000$/m);
    assert.equal(await served(), images.v1!.body, 'same image, new config');
    const v6 = await release(6);
    assert.equal(v6.status, 'succeeded');
    assert.equal(v6.image, images.v1!.ref);
  });

  it('ps:scale web=3: three live instances, and requests reach each of them', async () => {
    const r = await h.pvdify('ps:scale', app, 'web=3');
    assert.equal(r.code, 0, r.stderr);
    const web = (await instances()).filter((i) => i.process === 'web');
    assert.deepEqual(web.map((i) => [i.index, i.state, i.live]), [[1, 'running', true], [2, 'running', true], [3, 'running', true]]);
    // busybox httpd logs one `response:200` line per request it answers: count them per instance.
    const answered = async () => {
      const { lines } = await h.json<{ lines: Array<{ source: string; message: string }> }>('logs', app, '--num', '5000');
      const counts = new Map<string, number>(web.map((i) => [i.name, 0]));
      for (const l of lines) if (/response:200/.test(l.message) && counts.has(l.source)) counts.set(l.source, (counts.get(l.source) ?? 0) + 1);
      return counts;
    };
    const before = await answered();
    const load = startLoad({ port, concurrency: 1, maxRequests: 60, maxMs: 30_000 });
    const result = await load.done;
    assert.equal(result.total, 60);
    assertNoFailures(result, 'the scaled app');
    const after = await answered();
    for (const i of web) {
      const delta = (after.get(i.name) ?? 0) - (before.get(i.name) ?? 0);
      // Round robin gives each ~20; Caddy's health checks add a line or two at most.
      assert.ok(delta >= 10, `${i.name} answered ${delta} of 60 requests`);
    }
  });

  it('ps:restart replaces each instance in turn without a failed request', async (t) => {
    const sinceBefore = new Map((await instances()).map((i) => [i.name, i] as const));
    const load = startLoad({ port, concurrency: 2, pauseMs: 5, maxRequests: 40_000, maxMs: 120_000 });
    const r = await h.pvdify('ps:restart', app);
    const result = await load.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Restarted 3 instances/);
    assertNoFailures(result, 'ps:restart', t);
    const list = await instances();
    assert.deepEqual(list.map((i) => [i.index, i.state, i.live]), [[1, 'running', true], [2, 'running', true], [3, 'running', true]]);
    assert.deepEqual(new Set(list.map((i) => i.name)), new Set(sinceBefore.keys()), 'the surge instances are gone');
    assert.equal(await served(), images.v1!.body);
  });

  it('logs prints the instances’ lines', async () => {
    const r = await h.pvdify('logs', app, '--num', '50');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
    assert.ok(lines.length >= 5, r.stdout);
    assert.match(r.stdout, /pvdify-\S+-web-(blue|green)-[123]/, 'lines name the instance they came from');
    assert.match(r.stdout, /response:200/);
  });

  it('domains:add routes a hostname through the tunnel to the router port (cloudflared stub)', async () => {
    const host = `${app}.e2e.example.test`;
    const r = await h.pvdify('domains:add', app, host);
    assert.equal(r.code, 0, r.stderr);
    const calls = (await h.cloudflared.calls()).map((c) => c.argv.join(' '));
    assert.ok(calls.includes(`tunnel route dns pvdify-apps ${host}`), calls.join('\n'));
    const ingress = await readFile(join(h.stateDir, 'tunnels', 'pvdify-apps.yml'), 'utf8');
    assert.match(ingress, new RegExp(`hostname: ${host.replace(/\./g, '\\.')}\\s+service: http://127\\.0\\.0\\.1:${port}\\b`));
    assert.equal(await served(), images.v1!.body, 'the router keeps serving');
  });

  it('with pvdifyd running, pvdify deploy runs in the daemon: progress streamed, v2 live, no failed request', async (t) => {
    const daemon = await startDaemon(h);
    let exitCode: number | undefined;
    try {
      const load = startLoad({ port, concurrency: 2, pauseMs: 5, maxRequests: 20_000, maxMs: 90_000 });
      const r = await h.pvdify('deploy', app, images.v2!.ref);
      const result = await load.stop();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`${app} v\\d+ is live`));
      assert.match(r.stderr, /ok\s+pull[\s\S]*ok\s+switch[\s\S]*ok\s+drain/, 'the progress lines came from the daemon, in order');
      assertNoFailures(result, 'deploy through pvdifyd', t);
      assert.equal(await served(), images.v2!.body);
      assert.match(await readFile(daemon.logFile, 'utf8'), /"command":"deploy".*"exit":0/, 'the daemon ran the deploy');
      // The daemon started its instances through its podman API service: only the CLI records a
      // CreateCommand.
      assert.ok(existsSync(join(h.stateDir, 'podman.sock')), 'pvdifyd runs podman system service');
      const live = (await new PodmanCli({ env: podmanTestEnv() }).ps({ labels: [`pvdify.app=${app}`] })).filter((c) => !c.isInfra && c.state === 'running');
      assert.ok(live.length > 0);
      for (const c of live) assert.deepEqual(await createCommandOf(c.name), [], `${c.name} was started through the API`);
    } finally {
      exitCode = await daemon.stop();
    }
    assert.equal(exitCode, 0);
    assert.equal(existsSync(join(h.stateDir, 'pvdifyd.sock')), false, 'the daemon removed its socket');
    assert.equal(existsSync(join(h.stateDir, 'podman.sock')), false, 'and stopped its podman service');
  });

  it('apps:delete stops every container and the router stops answering for the app', async () => {
    const r = await h.pvdify('apps:delete', app, '--confirm', app);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await appContainers([app]), []);
    const ingress = await readFile(join(h.stateDir, 'tunnels', 'pvdify-apps.yml'), 'utf8');
    assert.doesNotMatch(ingress, new RegExp(app), 'the tunnel no longer routes the app’s hostname');
    // Connection refused (status 0) once Caddy dropped the app's server; a 404/503 would also do.
    const answer = await waitForStatus(port, '/', 0, 5000);
    assert.ok([0, 404, 503].includes(answer.status), `router still answers ${answer.status} ${answer.body.slice(0, 100)}`);
    const info = await h.pvdify('apps:info', app);
    assert.notEqual(info.code, 0);
  });
});
