/**
 * Zero-downtime benchmark, live: real `pvdify` CLI, Podman (podman supervisor), Caddy router.
 * One bounded keep-alive load loop on 127.0.0.1 runs through three phases of the same run:
 *
 *   idle      nothing changes (the latency floor of this machine, measured alongside)
 *   deploys   N consecutive `pvdify deploy`, alternating two image tags
 *   restarts  M `pvdify ps:restart` (surge instance per web instance, one at a time)
 *
 * and prints requests, failed requests (goal: 0) and p50/p99 latency per phase.
 *
 *   node --import tsx bench/zero-downtime.bench.ts [--deploys 10] [--restarts 3] [--idle-seconds 10]
 *                                                   [--concurrency 4] [--web 1] [--drain-ms 1500]
 */
import { startLoad, type LoadSample } from '../test/e2e/support.ts';
import { fmtMs, median, parseNumberFlags, percentile, setUpLiveApp } from './support/live-app.ts';
import { runIfMain } from './support/run-if-main.ts';

const USAGE =
  'node --import tsx bench/zero-downtime.bench.ts [--deploys N] [--restarts M] [--idle-seconds S] [--concurrency C] [--web W] [--drain-ms D]';

interface Phase {
  name: string;
  from: number;
  to: number;
}

export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  const args = parseNumberFlags(argv, { deploys: 10, restarts: 3, idleSeconds: 10, concurrency: 4, web: 1, drainMs: 1500 }, USAGE);
  const live = await setUpLiveApp({ drainMs: args.drainMs, prefix: 'pvd-zd-' });
  const { h, app, port, images } = live;
  const cliFailures: string[] = [];
  const deployMs: number[] = [];
  const restartMs: number[] = [];
  try {
    out(`zero-downtime: app ${app} on 127.0.0.1:${port}, web=${args.web}, concurrency ${args.concurrency}, drain ${args.drainMs} ms`);
    await h.pvdifyOk('deploy', app, images.a.ref);
    if (args.web !== 1) await h.pvdifyOk('ps:scale', app, `web=${args.web}`);

    // Both bounds: the loop ends by itself even if this process forgets to stop it.
    const budgetMs = Math.min(30 * 60_000, args.idleSeconds * 1000 + args.deploys * 60_000 + args.restarts * 120_000 + 30_000);
    const load = startLoad({ port, concurrency: args.concurrency, maxRequests: 5_000_000, maxMs: budgetMs });
    const phases: Phase[] = [];
    const phase = async (name: string, fn: () => Promise<void>) => {
      const from = performance.now();
      await fn();
      phases.push({ name, from, to: performance.now() });
    };
    let phaseError: unknown = null;
    try {
      await phase('idle', () => new Promise((resolve) => setTimeout(resolve, args.idleSeconds * 1000)));
      await phase(`${args.deploys} deploys`, async () => {
        for (let i = 0; i < args.deploys; i++) {
          const image = i % 2 === 0 ? images.b : images.a;
          const r = await h.pvdify('deploy', app, image.ref);
          deployMs.push(r.ms);
          if (r.code !== 0) cliFailures.push(`deploy ${image.ref}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        }
      });
      await phase(`${args.restarts} restarts`, async () => {
        for (let i = 0; i < args.restarts; i++) {
          const r = await h.pvdify('ps:restart', app);
          restartMs.push(r.ms);
          if (r.code !== 0) cliFailures.push(`ps:restart: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        }
      });
    } catch (e) {
      phaseError = e;
    }
    const result = await load.stop();
    if (phaseError !== null) throw phaseError;

    const inPhase = (p: Phase) => result.samples.filter((s: LoadSample) => s.at >= p.from && s.at < p.to);
    const row = (name: string, wallMs: number, samples: LoadSample[]) => {
      const ok = samples.filter((s) => s.ok).map((s) => s.ms);
      const failed = samples.length - ok.length;
      const retried = samples.reduce((n, s) => n + s.retries, 0);
      return `| ${name} | ${(wallMs / 1000).toFixed(1)} s | ${samples.length} | ${failed} | ${retried} | ${Math.round(samples.length / (wallMs / 1000))} | ${fmtMs(percentile(ok, 50))} | ${fmtMs(percentile(ok, 99))} | ${fmtMs(Math.max(0, ...ok))} |`;
    };
    out('');
    out('| phase | wall | requests | failed | keep-alive resets re-sent | req/s | p50 | p99 | max |');
    out('|---|---|---|---|---|---|---|---|---|');
    for (const p of phases) out(row(p.name, p.to - p.from, inPhase(p)));
    out(row('whole run', result.durationMs, result.samples));
    out('');
    out('failed = no 200 answer; a GET reset on a reused keep-alive connection before any answer is re-sent (at most 3 times), as');
    out("cloudflared's Go transport does; a client that does not retry (or a POST) would have failed there too.");
    out(`pvdify deploy wall time: median ${fmtMs(median(deployMs))}; ps:restart: median ${fmtMs(median(restartMs))}`);
    out(`answers: ${[...result.bodies.entries()].map(([b, n]) => `${JSON.stringify(b)}×${n}`).join(', ')}`);
    if (result.failures.length > 0) out(`first failures: ${result.failures.join(' | ')}`);
    for (const f of cliFailures) out(`CLI failure: ${f}`);
    const resent = result.samples.reduce((n, s) => n + s.retries, 0);
    const ok = result.failed === 0 && cliFailures.length === 0;
    out(
      !ok
        ? `zero downtime: NO (${result.failed} failed requests, ${cliFailures.length} failed commands)`
        : resent === 0
          ? 'zero downtime: yes (0 failed requests, none re-sent)'
          : `zero downtime: only for retrying clients (0 failed requests, ${resent} re-sent)`,
    );
    return ok ? 0 : 1;
  } finally {
    await live.dispose();
  }
}

runIfMain(import.meta.url, main);
