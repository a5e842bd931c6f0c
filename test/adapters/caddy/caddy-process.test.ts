/**
 * Caddy as a process: supervised (restart with backoff, clean stop) and detached (outlives the
 * command that started it; found again through the pidfile).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import {
  createCaddyProcess,
  ensureRouterConfig,
  isRouterProcess,
  routerStatus,
  startRouterDetached,
  stopRouter,
} from '../../../src/adapters/caddy/caddy-process.ts';
import { caddyConfigPath, createCaddyRouter, frontAdminAddress, frontConfigPath, routerLogPath, routerSocketDir } from '../../../src/adapters/caddy/caddy-router.ts';
import { renderCaddyConfig, renderFrontConfig } from '../../../src/adapters/caddy/caddy-config.ts';
import { silentLogger } from '../../../src/core/ports/clock.ts';
import { CADDY_PATH, caddyMissing, freePort, get, tempStateDir } from './support.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return;
    await delay(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('ensureRouterConfig', () => {
  it('writes an empty config naming the admin address, and fixes a changed address', async () => {
    const tmp = await tempStateDir();
    try {
      const path = await ensureRouterConfig(tmp.dir, '127.0.0.1:2999');
      assert.equal(path, caddyConfigPath(tmp.dir));
      const first = JSON.parse(await readFile(path, 'utf8')) as { admin: { listen: string }; apps: { http: { servers: object } } };
      assert.equal(first.admin.listen, '127.0.0.1:2999');
      assert.deepEqual(first.apps.http.servers, {});
      // An existing table is kept; only the admin address is rewritten.
      first.apps.http.servers = { 'pvdify-x': { listen: ['127.0.0.1:3000'] } };
      await writeFile(path, JSON.stringify(first));
      await ensureRouterConfig(tmp.dir, `unix/${join(tmp.dir, 'a.sock')}`);
      const second = JSON.parse(await readFile(path, 'utf8')) as typeof first;
      assert.equal(second.admin.listen, `unix/${join(tmp.dir, 'a.sock')}`);
      assert.deepEqual(second.apps.http.servers, { 'pvdify-x': { listen: ['127.0.0.1:3000'] } });
      await assert.rejects(ensureRouterConfig(tmp.dir, '0.0.0.0:2019'), { code: 'invalid_input' });
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('ensureRouterConfig: the front tier', () => {
  it('is derived from the apps config, so a restart from the files serves the same ports', async () => {
    const tmp = await tempStateDir();
    try {
      const admin = `unix/${join(tmp.dir, 'router', 'admin.sock')}`;
      const routes = [{ app: 'shop', bindPort: 3005, upstreams: [10001], healthPath: '/health' }];
      await mkdir(join(tmp.dir, 'router'), { recursive: true });
      await writeFile(caddyConfigPath(tmp.dir), JSON.stringify(renderCaddyConfig(routes, { adminListen: admin, socketDir: routerSocketDir(tmp.dir) })));
      await ensureRouterConfig(tmp.dir, admin);
      const front = JSON.parse(await readFile(frontConfigPath(tmp.dir), 'utf8')) as unknown;
      assert.deepEqual(front, renderFrontConfig(routes, { adminListen: frontAdminAddress(tmp.dir), socketDir: routerSocketDir(tmp.dir), logFile: routerLogPath(tmp.dir, 'front') }));
      assert.ok((await stat(routerSocketDir(tmp.dir))).isDirectory());
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('caddy process (live)', { skip: caddyMissing }, () => {
  describe('supervised', () => {
    let tmp: Awaited<ReturnType<typeof tempStateDir>>;
    before(async () => {
      tmp = await tempStateDir();
    });
    after(() => tmp.cleanup());

    it('starts, is restarted with backoff when it dies, and stops cleanly', async () => {
      const adminAddress = `unix/${join(tmp.dir, 'router', 'admin.sock')}`;
      const opts = { stateDir: tmp.dir, caddyPath: CADDY_PATH, adminAddress, stopTimeoutMs: 5000 };
      const caddy = createCaddyProcess({ ...opts, initialBackoffMs: 100 });
      try {
        await caddy.start();
        const first = caddy.status();
        assert.equal(first.state, 'running');
        assert.ok(first.pid);
        assert.equal(await readFile(join(tmp.dir, 'router', 'caddy.pid'), 'utf8'), `${first.pid}\nsupervised ${process.pid}\n`);
        const status = await routerStatus(opts);
        assert.deepEqual([status.running, status.pid, status.mode, status.adminReachable], [true, first.pid, 'supervised', true]);
        assert.deepEqual([status.tiers.front.running, status.tiers.front.pid, status.tiers.front.mode], [true, first.tiers.front.pid, 'supervised']);

        // The table survives a crash: the restarted Caddy reads router/caddy.json.
        const bindPort = await freePort();
        await createCaddyRouter({ stateDir: tmp.dir, adminAddress, log: silentLogger }).apply([{ app: 'kept', bindPort, upstreams: [], healthPath: '/health' }]);
        process.kill(first.pid, 'SIGKILL');
        await waitFor('the restart', async () => caddy.status().state === 'running' && caddy.status().pid !== first.pid && (await routerStatus(opts)).adminReachable);
        const second = caddy.status();
        assert.equal(second.restarts, 1);
        assert.equal(second.lastExit?.signal, 'SIGKILL');
        assert.equal((await get(bindPort)).status, 503);

        // The front tier is supervised the same way.
        const frontPid = caddy.status().tiers.front.pid as number;
        process.kill(frontPid, 'SIGKILL');
        await waitFor('the front restart', async () => caddy.status().tiers.front.state === 'running' && caddy.status().tiers.front.pid !== frontPid && (await routerStatus(opts)).adminReachable);
        assert.equal((await get(bindPort)).status, 503);

        await assert.rejects(caddy.start(), { code: 'conflict' });
        await caddy.stop();
        assert.equal(caddy.status().state, 'stopped');
        assert.equal(await isRouterProcess(second.pid as number, caddyConfigPath(tmp.dir)), false);
        await assert.rejects(readFile(join(tmp.dir, 'router', 'caddy.pid')), { code: 'ENOENT' });
        assert.equal((await routerStatus(opts)).adminReachable, false);
      } finally {
        await caddy.stop();
      }
    });

    it('fails to start with the reason from caddy, and leaves nothing running', async () => {
      const adminAddress = `127.0.0.1:${await freePort()}`;
      const broken = { admin: { listen: adminAddress }, apps: { http: { servers: { x: { listen: ['127.0.0.1:0'], routes: [{ handle: [{ handler: 'no_such_handler' }] }] } } } } };
      await writeFile(caddyConfigPath(tmp.dir), JSON.stringify(broken));
      const caddy = createCaddyProcess({ stateDir: tmp.dir, caddyPath: CADDY_PATH, adminAddress, readyTimeoutMs: 5000 });
      try {
        await assert.rejects(caddy.start(), { code: 'external_tool', message: /caddy \(apps tier\) exited while starting: .*no_such_handler/ });
        assert.equal(caddy.status().state, 'stopped');
        await assert.rejects(readFile(join(tmp.dir, 'router', 'caddy.pid')), { code: 'ENOENT' });
      } finally {
        await caddy.stop();
      }
    });

    it('refuses to start a second router next to a running one', async () => {
      await writeFile(caddyConfigPath(tmp.dir), '{}');
      const adminAddress = `unix/${join(tmp.dir, 'router', 'admin.sock')}`;
      const one = createCaddyProcess({ stateDir: tmp.dir, caddyPath: CADDY_PATH, adminAddress });
      const two = createCaddyProcess({ stateDir: tmp.dir, caddyPath: CADDY_PATH, adminAddress });
      try {
        await one.start();
        await assert.rejects(two.start(), { code: 'conflict', message: /already running/ });
      } finally {
        await one.stop();
      }
    });
  });

  describe('detached', () => {
    let tmp: Awaited<ReturnType<typeof tempStateDir>>;
    let opts: { stateDir: string; caddyPath: string; adminAddress: string };
    before(async () => {
      tmp = await tempStateDir();
      opts = { stateDir: tmp.dir, caddyPath: CADDY_PATH, adminAddress: `unix/${join(tmp.dir, 'router', 'admin.sock')}` };
    });
    after(async () => {
      await stopRouter(opts).catch(() => {});
      await tmp.cleanup();
    });

    it('outlives the command that started it, and is stopped through the pidfile', async () => {
      const r = await execa(process.execPath, ['--import', 'tsx', join(here, 'start-detached.ts'), opts.stateDir, opts.caddyPath, opts.adminAddress], {
        cwd: join(here, '../../..'),
        timeout: 30_000,
      });
      const started = JSON.parse(r.stdout) as { pid: number; alreadyRunning: boolean };
      assert.equal(started.alreadyRunning, false);
      // The starter has exited; the router is not our child, yet it is found and answering.
      const status = await routerStatus(opts);
      assert.deepEqual([status.running, status.pid, status.mode, status.adminReachable, status.stalePidFile], [true, started.pid, 'detached', true, false]);
      assert.deepEqual(await startRouterDetached(opts), { pid: started.pid, alreadyRunning: true });

      const stopped = await stopRouter(opts);
      assert.deepEqual(stopped, { stopped: true, pid: started.pid, forced: false });
      await waitFor('the process to go', async () => !(await isRouterProcess(started.pid, caddyConfigPath(opts.stateDir))));
      const after = await routerStatus(opts);
      assert.deepEqual([after.running, after.adminReachable, after.stalePidFile], [false, false, false]);
      assert.deepEqual(await stopRouter(opts), { stopped: false, pid: null, forced: false });
    });

    it('treats a pidfile naming another process as stale and never signals it', async () => {
      const bystander = execa('sleep', ['30']);
      try {
        await writeFile(join(opts.stateDir, 'router', 'caddy.pid'), `${bystander.pid}\ndetached\n`);
        const status = await routerStatus(opts);
        assert.deepEqual([status.running, status.stalePidFile], [false, true]);
        assert.deepEqual(await stopRouter(opts), { stopped: false, pid: null, forced: false });
        assert.equal(bystander.exitCode, null, 'the bystander is still running');
        await assert.rejects(readFile(join(opts.stateDir, 'router', 'caddy.pid')), { code: 'ENOENT' });
      } finally {
        bystander.kill('SIGKILL');
        await bystander.catch(() => {});
      }
    });

    it('refuses to stop a router that another live process supervises', async () => {
      const { pid } = await startRouterDetached(opts);
      const supervisor = execa('sleep', ['30']);
      try {
        await writeFile(join(opts.stateDir, 'router', 'caddy.pid'), `${pid}\nsupervised ${supervisor.pid}\n`);
        await assert.rejects(stopRouter(opts), { code: 'conflict', message: /supervised by pvdifyd serve/ });
        assert.equal((await routerStatus(opts)).running, true);
      } finally {
        supervisor.kill('SIGKILL');
        await supervisor.catch(() => {});
      }
      // Its supervisor gone, the router may be stopped.
      assert.equal((await stopRouter(opts)).stopped, true);
    });
  });
});
