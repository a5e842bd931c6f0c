/**
 * Router reload benchmark, live (real Caddy, loopback only): what a config switch costs the
 * clients, for the router as pvdify runs it against the one-process design it replaced, side by
 * side in one run. Each design serves one app proxied to two tiny upstreams and is switched
 * between them --reloads times while --workers clients send GETs:
 *
 *   one tier, migrate 0   one Caddy listening on TCP, reloaded per switch, net.ipv4.tcp_migrate_req=0
 *   one tier, migrate 1   the same with tcp_migrate_req=1 (the kernel moves queued connections)
 *   two tiers (pvdify)    front Caddy on TCP (never reloaded) → unix socket → apps Caddy (reloaded)
 *
 * Two client kinds per design: `fresh` opens a new connection per request (the kind a listener
 * reload resets) and `keep-alive` reuses pooled ones (the kind a reload closes under an idle
 * connection; counted as `reused reset`, which only a retrying client survives). Also: p50/p99
 * latency with no switch, which shows what the second hop costs.
 *
 *   node --import tsx bench/router-reload.bench.ts [--reloads 60] [--workers 6] [--idle-requests 3000]
 *
 * Needs caddy; the tcp_migrate_req rows need root (the setting is put back afterwards).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCaddyAdminClient } from '../src/adapters/caddy/admin-client.ts';
import { createCaddyProcess, type CaddyProcess } from '../src/adapters/caddy/caddy-process.ts';
import { createCaddyRouter } from '../src/adapters/caddy/caddy-router.ts';
import { TCP_MIGRATE_REQ } from '../src/adapters/host/listener-handover.ts';
import { silentLogger } from '../src/core/ports/clock.ts';
import { percentile } from '../test/e2e/support.ts';
import { fmtMs, parseNumberFlags } from './support/live-app.ts';
import { runIfMain } from './support/run-if-main.ts';
import { execa } from 'execa';

const USAGE = 'node --import tsx bench/router-reload.bench.ts [--reloads N] [--workers W] [--idle-requests R]';
const CADDY = process.env.PVDIFY_CADDY ?? '/usr/bin/caddy';

interface Design {
  name: string;
  port: number;
  /** Points the app at upstream set i % 2. */
  switchTo(i: number): Promise<void>;
  close(): Promise<void>;
}

interface Tally {
  ok: number;
  fresh: number;
  reused: number;
  other: number;
  ms: number[];
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  const port = await listen(s);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function upstream(): http.Server {
  return http.createServer((req, res) => res.end(req.url === '/health' ? 'ok' : 'hello'));
}

/** The design pvdify ran before: one Caddy, TCP listener, the whole config loaded per switch. */
async function oneTier(name: string, ports: number[][]): Promise<Design> {
  const dir = await mkdtemp(join(tmpdir(), 'pvd-rr1-'));
  const admin = `unix/${join(dir, 'admin.sock')}`;
  const port = await freePort();
  const config = (i: number) => ({
    admin: { listen: admin, config: { persist: false } },
    apps: {
      http: {
        servers: {
          app: {
            listen: [`127.0.0.1:${port}`],
            automatic_https: { disable: true },
            routes: [{ handle: [{ handler: 'reverse_proxy', upstreams: ports[i % 2]!.map((p) => ({ dial: `127.0.0.1:${p}` })) }] }],
          },
        },
      },
    },
  });
  await writeFile(join(dir, 'caddy.json'), JSON.stringify(config(0)));
  const child = execa(CADDY, ['run', '--config', join(dir, 'caddy.json')], { stdio: 'ignore', reject: false, env: { HOME: dir, PATH: process.env.PATH ?? '' } });
  const client = createCaddyAdminClient(admin, { timeoutMs: 10_000 });
  for (let i = 0; i < 200 && !(await client.ping()); i++) await new Promise((r) => setTimeout(r, 25));
  return {
    name,
    port,
    switchTo: (i) => client.load(config(i)),
    async close() {
      child.kill('SIGTERM');
      await child;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** pvdify's router: both tiers, through the real process supervisor and Router adapter. */
async function twoTiers(ports: number[][]): Promise<Design> {
  const dir = await mkdtemp(join(tmpdir(), 'pvd-rr2-'));
  const adminAddress = `unix/${join(dir, 'router', 'admin.sock')}`;
  const caddy: CaddyProcess = createCaddyProcess({ stateDir: dir, caddyPath: CADDY, adminAddress, log: silentLogger });
  await caddy.start();
  const router = createCaddyRouter({ stateDir: dir, adminAddress, log: silentLogger });
  const port = await freePort();
  const table = (i: number) => [{ app: 'bench', bindPort: port, upstreams: ports[i % 2]!, healthPath: '/health' }];
  await router.apply(table(0));
  return {
    name: 'two tiers (pvdify)',
    port,
    switchTo: (i) => router.apply(table(i)),
    async close() {
      await caddy.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function get(port: number, agent: http.Agent | false): Promise<{ ok: boolean; reused: boolean }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, reused: false }));
      res.on('error', () => resolve({ ok: false, reused: req.reusedSocket }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ok: false, reused: req.reusedSocket }));
  });
}

/** `workers` clients until `until` resolves; `keepAlive` decides the connection kind. */
async function load(port: number, workers: number, keepAlive: boolean, until: Promise<void>, maxRequests = Infinity): Promise<Tally> {
  const t: Tally = { ok: 0, fresh: 0, reused: 0, other: 0, ms: [] };
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: workers }) : false;
  let stop = false;
  void until.then(() => (stop = true));
  let sent = 0;
  const worker = async () => {
    while (!stop && sent < maxRequests) {
      sent++;
      const start = performance.now();
      const r = await get(port, agent);
      if (r.ok) {
        t.ok++;
        t.ms.push(performance.now() - start);
      } else if (r.reused) t.reused++;
      else t.fresh++;
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  if (agent) agent.destroy();
  return t;
}

async function switches(d: Design, reloads: number): Promise<void> {
  for (let i = 1; i <= reloads; i++) {
    await d.switchTo(i);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  const args = parseNumberFlags(argv, { reloads: 60, workers: 6, idleRequests: 3000 }, USAGE);
  const servers = [upstream(), upstream(), upstream(), upstream()];
  const up = await Promise.all(servers.map(listen));
  const ports = [up.slice(0, 2), up.slice(2, 4)];
  const migrateBefore = await readFile(TCP_MIGRATE_REQ, 'utf8').catch(() => null);
  const setMigrate = async (v: '0' | '1'): Promise<boolean> => writeFile(TCP_MIGRATE_REQ, `${v}\n`).then(() => true, () => false);
  const rows: string[] = [];
  const bounded = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  try {
    const designs: { make: () => Promise<Design>; migrate: '0' | '1' | null }[] = [
      { make: () => oneTier('one tier, migrate 0', ports), migrate: '0' },
      { make: () => oneTier('one tier, migrate 1', ports), migrate: '1' },
      { make: () => twoTiers(ports), migrate: null },
    ];
    for (const { make, migrate } of designs) {
      if (migrate !== null && !(await setMigrate(migrate))) {
        rows.push(`| ${migrate === '0' ? 'one tier, migrate 0' : 'one tier, migrate 1'} | not measured: cannot write ${TCP_MIGRATE_REQ} (needs root) | | | | | |`);
        continue;
      }
      const d = await make();
      try {
        // Latency with nothing changing: what the design costs per request.
        const idle = await load(d.port, 1, true, bounded(60_000), args.idleRequests);
        for (const keepAlive of [false, true]) {
          const run = switches(d, args.reloads);
          const t = await load(d.port, args.workers, keepAlive, Promise.race([run, bounded(120_000)]));
          await run;
          const total = t.ok + t.fresh + t.reused + t.other;
          rows.push(
            `| ${d.name} | ${keepAlive ? 'keep-alive' : 'fresh'} | ${total} | **${t.fresh + t.other}** | ${t.reused} | ${fmtMs(percentile(idle.ms, 50))} / ${fmtMs(percentile(idle.ms, 99))} | ${fmtMs(percentile(t.ms, 50))} / ${fmtMs(percentile(t.ms, 99))} |`,
          );
        }
      } finally {
        await d.close();
      }
    }
  } finally {
    if (migrateBefore !== null) await writeFile(TCP_MIGRATE_REQ, migrateBefore).catch(() => {});
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  out(`router-reload: ${args.reloads} switches per row, ${args.workers} clients, loopback`);
  out('');
  out('| design | connections | requests | reset (fresh connection) | reset (reused keep-alive) | idle p50 / p99 | during switches p50 / p99 |');
  out('|---|---|---|---|---|---|---|');
  for (const r of rows) out(r);
  out('');
  out('A reset on a fresh connection fails the request for every client; one on a reused keep-alive connection is');
  out("re-sent only by clients that retry idempotent requests (Go's transport, i.e. cloudflared), never for a POST.");
  return 0;
}

runIfMain(import.meta.url, main);
