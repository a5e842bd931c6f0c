/**
 * The Caddy router against a real Caddy: the Router contract, round robin, the 503 of an app
 * without instances, a switch of upstreams under load with no failed request, admin errors.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCaddyProcess, type CaddyProcess } from '../../../src/adapters/caddy/caddy-process.ts';
import {
  caddyConfigPath,
  createCaddyRouter,
  frontAdminAddress,
  frontConfigPath,
  renderRouterConfigs,
  routerLogPath,
  routerSocketDir,
} from '../../../src/adapters/caddy/caddy-router.ts';
import { noUpstreamBody, renderCaddyConfig, renderFrontConfig } from '../../../src/adapters/caddy/caddy-config.ts';
import { silentLogger } from '../../../src/core/ports/clock.ts';
import type { Router } from '../../../src/core/ports/runtime.ts';
import { routerContract } from './contract.ts';
import { CADDY_PATH, caddyMissing, freePort, get, getLikeAProxy, startUpstream, tempStateDir, type Upstream } from './support.ts';

async function startCaddy(adminKind: 'unix' | 'tcp'): Promise<{ stateDir: string; adminAddress: string; caddy: CaddyProcess; close(): Promise<void> }> {
  const tmp = await tempStateDir();
  const adminAddress = adminKind === 'unix' ? `unix/${join(tmp.dir, 'router', 'admin.sock')}` : `127.0.0.1:${await freePort()}`;
  const caddy = createCaddyProcess({ stateDir: tmp.dir, caddyPath: CADDY_PATH, adminAddress, stopTimeoutMs: 5000 });
  try {
    await caddy.start();
  } catch (e) {
    await tmp.cleanup();
    throw e;
  }
  return {
    stateDir: tmp.dir,
    adminAddress,
    caddy,
    async close() {
      await caddy.stop();
      await tmp.cleanup();
    },
  };
}

describe('caddy router (live)', { skip: caddyMissing }, () => {
  routerContract('caddy over a unix socket', async () => {
    const c = await startCaddy('unix');
    return { router: createCaddyRouter({ stateDir: c.stateDir, adminAddress: c.adminAddress, log: silentLogger }), freePort, close: c.close };
  });

  routerContract('caddy over 127.0.0.1', async () => {
    const c = await startCaddy('tcp');
    return { router: createCaddyRouter({ stateDir: c.stateDir, adminAddress: c.adminAddress, log: silentLogger }), freePort, close: c.close };
  });

  describe('traffic', () => {
    let c: Awaited<ReturnType<typeof startCaddy>>;
    let router: Router;
    const upstreams: Upstream[] = [];
    const up = async (name: string, delayMs = 0, onRequest?: () => void): Promise<Upstream> => {
      const u = await startUpstream(name, delayMs, onRequest);
      upstreams.push(u);
      return u;
    };

    before(async () => {
      c = await startCaddy('unix');
      router = createCaddyRouter({ stateDir: c.stateDir, adminAddress: c.adminAddress, log: silentLogger });
    });
    after(async () => {
      await Promise.all(upstreams.map((u) => u.stop()));
      await c.close();
    });

    it('writes router/caddy.json atomically with the rendered config', async () => {
      const bindPort = await freePort();
      const a = await up('a');
      const routes = [{ app: 'files', bindPort, upstreams: [a.port], healthPath: '/health' }];
      await router.apply(routes);
      const onDisk = JSON.parse(await readFile(caddyConfigPath(c.stateDir), 'utf8')) as unknown;
      const expected = renderRouterConfigs(routes, { stateDir: c.stateDir, adminAddress: c.adminAddress });
      assert.deepEqual(onDisk, expected.apps);
      assert.deepEqual(expected.apps, renderCaddyConfig(routes, { adminListen: c.adminAddress, socketDir: routerSocketDir(c.stateDir), logFile: routerLogPath(c.stateDir, 'apps') }));
      const front = JSON.parse(await readFile(frontConfigPath(c.stateDir), 'utf8')) as unknown;
      assert.deepEqual(front, renderFrontConfig(routes, { adminListen: frontAdminAddress(c.stateDir), socketDir: routerSocketDir(c.stateDir), logFile: routerLogPath(c.stateDir, 'front') }));
      // Caddy's running log goes to the rolled files, one per tier.
      for (const tier of ['apps', 'front'] as const) {
        const lines = (await readFile(routerLogPath(c.stateDir, tier), 'utf8')).trim().split('\n');
        assert.ok(lines.length > 0 && lines.every((l) => typeof (JSON.parse(l) as { msg?: unknown }).msg === 'string'), `${tier}.log holds Caddy's JSON lines`);
      }
      const leftovers = (await readdir(join(c.stateDir, 'router'))).filter((f) => f.endsWith('.tmp'));
      assert.deepEqual(leftovers, []);
    });

    it('spreads requests over all upstreams, round robin', async () => {
      const bindPort = await freePort();
      const [a, b, d] = [await up('one'), await up('two'), await up('three')];
      await router.apply([{ app: 'rr', bindPort, upstreams: [a.port, b.port, d.port], healthPath: '/health' }]);
      const seen = new Map<string, number>();
      for (let i = 0; i < 30; i++) {
        const r = await get(bindPort);
        assert.equal(r.status, 200);
        seen.set(r.body, (seen.get(r.body) ?? 0) + 1);
      }
      assert.deepEqual([...seen.keys()].sort(), ['one', 'three', 'two']);
      // Round robin, not random: sequential requests are spread (almost) evenly.
      for (const [name, n] of seen) assert.ok(n >= 9 && n <= 11, `${name} got ${n} of 30`);
    });

    it('answers 503 with a clear body for an app without instances', async () => {
      const bindPort = await freePort();
      await router.apply([{ app: 'sleepy', bindPort, upstreams: [], healthPath: '/health' }]);
      const r = await get(bindPort, '/anything');
      assert.equal(r.status, 503);
      assert.equal(r.body, noUpstreamBody('sleepy'));
      assert.match(r.body, /sleepy has no running web instances/);
      assert.equal(r.headers['retry-after'], '5');
    });

    it('retries a request on another upstream when one has just stopped', async () => {
      const bindPort = await freePort();
      const [a, b] = [await up('alive'), await up('gone')];
      await router.apply([{ app: 'retry', bindPort, upstreams: [a.port, b.port], healthPath: '/health' }]);
      await b.stop();
      for (let i = 0; i < 10; i++) {
        const r = await get(bindPort);
        assert.deepEqual([r.status, r.body], [200, 'alive']);
      }
    });

    it('switches upstreams under load without a failed request; in-flight requests finish', async () => {
      const bindPort = await freePort();
      const newSet = [await up('new-1', 10), await up('new-2', 10), await up('new-3', 10)];
      const table = (set: Upstream[]) => [{ app: 'switch', bindPort, upstreams: set.map((u) => u.port), healthPath: '/health' }];
      let oldRequests = 0;
      let switchAt = 0;
      let switched: Promise<void> | null = null;
      const oldSet: Upstream[] = [];
      // The switch starts from inside an old upstream's handler, so that request (and the
      // others in flight on the old colour) is certainly being served while Caddy switches.
      const onOldRequest = (): void => {
        oldRequests += 1;
        if (oldRequests !== 300) return;
        switchAt = performance.now();
        switched = router
          .apply(table(newSet))
          // Stop the old colour right after the switch, as the rollout does.
          .then(() => Promise.all(oldSet.map((u) => u.stop())))
          .then(() => undefined);
      };
      for (const n of [1, 2, 3]) oldSet.push(await up(`old-${n}`, 10 + 5 * n, onOldRequest));
      await router.apply(table(oldSet));

      const total = 2000;
      const concurrency = 8;
      const deadline = performance.now() + 20_000;
      // Keep-alive, as cloudflared talks to the router: connections opened before the switch
      // are reused across it.
      const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
      let idleRaceRetries = 0;
      const failures: string[] = [];
      const bodies = new Map<string, number>();
      let issued = 0;
      let done = 0;
      const worker = async (): Promise<void> => {
        while (issued < total && performance.now() < deadline) {
          issued += 1;
          try {
            const r = await getLikeAProxy(bindPort, '/', agent, () => (idleRaceRetries += 1));
            if (r.status !== 200) failures.push(`HTTP ${r.status}: ${r.body.slice(0, 100)}`);
            bodies.set(r.body, (bodies.get(r.body) ?? 0) + 1);
          } catch (e) {
            failures.push((e as Error).message);
          }
          done += 1;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      await switched;
      agent.destroy();

      assert.ok(switched !== null, 'the switch happened during the load');
      assert.deepEqual(failures, [], `${failures.length} failed requests`);
      assert.equal(done, total, `all ${total} requests ran within 20 s`);
      // The switch reloads only the apps tier: the client's keep-alive connections to the front
      // are never closed under it, so not even an idempotent GET needs sending twice.
      assert.equal(idleRaceRetries, 0, `${idleRaceRetries} idle-connection retries`);
      const fromOld = oldSet.reduce((n, u) => n + (bodies.get(u.name) ?? 0), 0);
      const fromNew = newSet.reduce((n, u) => n + (bodies.get(u.name) ?? 0), 0);
      assert.equal(fromOld + fromNew, total);
      for (const u of newSet) assert.ok((bodies.get(u.name) ?? 0) > 0, `${u.name} took traffic`);
      // Requests the old upstreams were serving when the switch began were answered, not cut.
      const inFlight = oldSet.flatMap((u) => u.served).filter((s) => s.start <= switchAt && s.end > switchAt);
      assert.ok(inFlight.length >= 1, 'requests in flight on the old upstreams at the switch completed');
      assert.deepEqual((await router.current()).find((r) => r.app === 'switch')?.upstreams, newSet.map((u) => u.port));
    });

    it('resets no fresh connection across 25 switches (the TCP listener is never reopened)', async () => {
      const bindPort = await freePort();
      const sets = [[await up('even-1'), await up('even-2')], [await up('odd-1'), await up('odd-2')]];
      const table = (i: number) => [{ app: 'churn', bindPort, upstreams: sets[i % 2]!.map((u) => u.port), healthPath: '/health' }];
      await router.apply(table(0));
      const frontBefore = await readFile(frontConfigPath(c.stateDir), 'utf8');
      let stop = false;
      let ok = 0;
      const failures: string[] = [];
      // No keep-alive: every request is a new TCP connection, the kind a listener reload resets.
      const worker = async (): Promise<void> => {
        while (!stop) {
          try {
            const r = await get(bindPort, '/', false, 5000);
            if (r.status === 200) ok += 1;
            else failures.push(`HTTP ${r.status}`);
          } catch (e) {
            failures.push((e as Error).message);
          }
        }
      };
      const workers = Array.from({ length: 6 }, worker);
      const deadline = performance.now() + 30_000;
      for (let i = 1; i <= 25 && performance.now() < deadline; i++) {
        await router.apply(table(i));
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
      stop = true;
      await Promise.all(workers);
      assert.deepEqual(failures, [], `${failures.length} failed of ${ok + failures.length}`);
      assert.ok(ok > 200, `${ok} requests went through`);
      assert.equal(await readFile(frontConfigPath(c.stateDir), 'utf8'), frontBefore, 'the front config was not rewritten');
    });

    it("passes the front's X-Forwarded-* headers on to the app", async () => {
      const bindPort = await freePort();
      let seen: http.IncomingHttpHeaders = {};
      const app = http.createServer((req, res) => {
        seen = req.headers;
        res.end('ok');
      });
      await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
      try {
        const port = (app.address() as { port: number }).port;
        await router.apply([{ app: 'headers', bindPort, upstreams: [port], healthPath: '/health' }]);
        const r = await get(bindPort, '/who');
        assert.equal(r.status, 200);
        assert.equal(seen['x-forwarded-for'], '127.0.0.1');
        assert.equal(seen['x-forwarded-proto'], 'http');
        assert.equal(seen['x-forwarded-host'], `127.0.0.1:${bindPort}`);
      } finally {
        await new Promise<void>((resolve) => app.close(() => resolve()));
      }
    });

    it('reports what Caddy refuses as an ExternalToolError and restores the file', async () => {
      const good = [{ app: 'good', bindPort: await freePort(), upstreams: [], healthPath: '/health' }];
      await router.apply(good);
      const before = await readFile(caddyConfigPath(c.stateDir), 'utf8');
      // Something else holds the port Caddy is asked to listen on.
      const squatter = http.createServer();
      await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
      const taken = (squatter.address() as { port: number }).port;
      try {
        await assert.rejects(router.apply([...good, { app: 'clash', bindPort: taken, upstreams: [], healthPath: '/health' }]), (e: Error & { code?: string; tool?: string }) => {
          assert.equal(e.code, 'external_tool');
          assert.equal(e.tool, 'caddy');
          assert.match(e.message, /POST \/load failed .*address already in use/);
          return true;
        });
      } finally {
        await new Promise<void>((resolve) => squatter.close(() => resolve()));
      }
      assert.equal(await readFile(caddyConfigPath(c.stateDir), 'utf8'), before);
      // The apps tier took the table before the front refused; it was put back.
      assert.deepEqual(await router.current(), good);
    });
  });

  it('says the router is not running when the admin API is unreachable, leaving no file behind', async () => {
    const tmp = await tempStateDir();
    try {
      const router = createCaddyRouter({ stateDir: tmp.dir, adminAddress: `unix/${join(tmp.dir, 'none.sock')}`, log: silentLogger });
      await assert.rejects(router.current(), { code: 'external_tool', message: /unreachable \(not running\)/ });
      await assert.rejects(router.apply([]), { code: 'external_tool' });
      await assert.rejects(readFile(caddyConfigPath(tmp.dir)), { code: 'ENOENT' });
    } finally {
      await tmp.cleanup();
    }
  });
});
