/**
 * Deploy overhead benchmark, live: the wall time of `pvdify deploy` (real CLI, podman supervisor,
 * Caddy router) for an image already present locally, against a floor measured in the same run,
 * alternating floor/deploy for --rounds rounds:
 *
 *   floor   `podman run -d -p 127.0.0.1:<port>:3000 <image>` + polling its health path every
 *           50 ms until 200 (then `podman rm -f`, not timed): the least any deploy must do
 *   deploy  `pvdify deploy APP <image>` (alternating two tags so each round is a real switch):
 *           CLI start-up, lock, snapshot, release, env file, start, health, router switch,
 *           drain (--drain-ms), stop of the old colour
 *
 *   first   `pvdify deploy` of a freshly created app (apps:create and apps:delete not timed):
 *           the like-for-like comparison with the floor, nothing to drain or stop
 *
 *   engine  the same two deploys through the rollout engine of a runtime opened once in this
 *           process (`openRuntime` of src/main.ts, as the daemon and the Slack path use it): what a
 *           deploy costs without a CLI process starting
 *
 *   daemon  `pvdify deploy` of a fresh app while `pvdifyd serve` runs on the same state: the CLI
 *           hands the command to the daemon over its control socket, as on a VPS. The other CLI
 *           rows set PVDIFY_DIRECT=1 (the CLI runs the command itself, as with no daemon).
 *
 * Also measured: `pvdify help` (the CLI's start-up: the dist/ bundle, or tsx without one) and the
 * per-step durations the CLI prints, so the overhead can be split into its parts.
 *
 *   node --import tsx bench/deploy-overhead.bench.ts [--rounds 5] [--drain-ms 1500]
 */
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { podmanTestEnv } from '../test/support/podman/env.ts';
import { freePort } from '../test/support/podman/ports.ts';
import { PODMAN_BIN, PVDIFY_BIN, runNode, startDaemon, type Daemon } from '../test/e2e/support.ts';
import { fmtMs, median, parseNumberFlags, setUpLiveApp, type LiveApp } from './support/live-app.ts';
import { openRuntime, readEnvOptions, type Runtime } from '../src/main.ts';
import { cliActor } from '../src/cli/pvdify.ts';
import type { DeployStep } from '../src/core/deploy/progress.ts';
import { runIfMain } from './support/run-if-main.ts';

const USAGE = 'node --import tsx bench/deploy-overhead.bench.ts [--rounds N] [--drain-ms D]';

/** `podman run` + health poll; resolves with the wall time, removes the container either way. */
async function floorOnce(image: string): Promise<number> {
  const env = podmanTestEnv();
  const name = `pvdify-bench-floor-${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  const started = performance.now();
  try {
    await execa(PODMAN_BIN, ['run', '-d', '--name', name, '-e', 'PORT=3000', '-p', `127.0.0.1:${port}:3000`, image], { env });
    const deadline = started + 30_000;
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) }).then(
        async (r) => {
          await r.arrayBuffer();
          return r.status;
        },
        () => 0,
      );
      if (status === 200) return performance.now() - started;
      if (performance.now() > deadline) throw new Error(`floor container ${name} not healthy within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await execa(PODMAN_BIN, ['rm', '--force', '--time', '0', name], { env, reject: false });
  }
}

/** `  ok   health      0.6 s` progress lines → step → seconds. */
function stepDurations(stderr: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of stderr.matchAll(/^\s+ok\s+(\S+)\s+([\d.]+) s/gm)) out[m[1]!] = Number(m[2]) * 1000;
  return out;
}

/** One deploy through an in-process engine: wall time and the step durations it reported. */
async function engineDeploy(runtime: Runtime, app: string, image: string): Promise<{ ms: number; steps: Partial<Record<DeployStep, number>> }> {
  const steps: Partial<Record<DeployStep, number>> = {};
  const started = performance.now();
  await runtime.services.rollout.deploy(app, image, cliActor(), (e) => {
    if (e.status === 'ok' && e.durationMs !== undefined) steps[e.step] = e.durationMs;
  });
  return { ms: performance.now() - started, steps };
}

/** The runtime pvdifyd would open on the benchmark's state (the CLI's PVDIFY_* variables, its log file). */
function openEngine(live: LiveApp): Promise<Runtime> {
  return openRuntime(readEnvOptions(live.h.env));
}

export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  const args = parseNumberFlags(argv, { rounds: 5, drainMs: 1500 }, USAGE);
  if (args.rounds < 1) throw new Error(`--rounds must be at least 1\nusage: ${USAGE}`);
  const live = await setUpLiveApp({ drainMs: args.drainMs, prefix: 'pvd-do-' });
  const { h, app, images } = live;
  let runtime: Runtime | null = null;
  let daemon: Daemon | null = null;
  // The CLI rows run the command in the CLI process; the daemon rows leave this unset.
  const direct = { ...h.env, PVDIFY_DIRECT: '1' };
  const cli = (...args: string[]) => runNode(PVDIFY_BIN, args, direct);
  const cliOk = async (...args: string[]) => {
    const r = await cli(...args);
    if (r.code !== 0) throw new Error(`pvdify ${args.join(' ')} failed:\n${r.stderr}`);
    return r;
  };
  try {
    runtime = await openEngine(live);
    out(`deploy-overhead: app ${app}, ${args.rounds} rounds, drain ${args.drainMs} ms (PVDIFY_DRAIN_MS)`);
    // Warm-up, not measured: first router start, first container of the app, page cache.
    await cliOk('deploy', app, images.a.ref);
    await floorOnce(images.a.ref);
    daemon = await startDaemon(h);

    const floor: number[] = [];
    const deploy: number[] = [];
    const first: number[] = [];
    const help: number[] = [];
    const info: number[] = [];
    const engineFirst: number[] = [];
    const engineSwitch: number[] = [];
    const engineDrain: number[] = [];
    const viaDaemon: number[] = [];
    const helpViaDaemon: number[] = [];
    const steps: Record<string, number[]> = {};
    for (let i = 0; i < args.rounds; i++) {
      const image = i % 2 === 0 ? images.b : images.a;
      floor.push(await floorOnce(image.ref));
      const r = await cli('deploy', app, image.ref);
      if (r.code !== 0) throw new Error(`pvdify deploy failed in round ${i + 1}:\n${r.stderr}`);
      deploy.push(r.ms);
      for (const [step, ms] of Object.entries(stepDurations(r.stderr))) (steps[step] ??= []).push(ms);
      // Like for like with the floor: the first deploy of a fresh app (nothing to drain or stop).
      const fresh = `${app}-f${i}`;
      await cliOk('apps:create', fresh);
      const f = await cli('deploy', fresh, image.ref);
      if (f.code !== 0) throw new Error(`pvdify deploy (fresh app) failed in round ${i + 1}:\n${f.stderr}`);
      first.push(f.ms);
      await cliOk('apps:delete', fresh, '--confirm', fresh);
      // The same first deploy with pvdifyd running: the CLI hands it over the control socket.
      const freshDaemon = `${app}-d${i}`;
      await h.pvdifyOk('apps:create', freshDaemon);
      const d = await h.pvdify('deploy', freshDaemon, image.ref);
      if (d.code !== 0) throw new Error(`pvdify deploy (through pvdifyd) failed in round ${i + 1}:\n${d.stderr}`);
      viaDaemon.push(d.ms);
      await h.pvdifyOk('apps:delete', freshDaemon, '--confirm', freshDaemon);
      // The same two deploys through the engine of this process (no CLI start-up).
      const freshEngine = `${app}-e${i}`;
      await cliOk('apps:create', freshEngine);
      engineFirst.push((await engineDeploy(runtime, freshEngine, image.ref)).ms);
      await cliOk('apps:delete', freshEngine, '--confirm', freshEngine);
      const sw = await engineDeploy(runtime, app, image.ref);
      engineSwitch.push(sw.ms);
      engineDrain.push(sw.steps.drain ?? 0);
      help.push((await cli('help')).ms);
      helpViaDaemon.push((await runNode(PVDIFY_BIN, ['help'], h.env)).ms);
      info.push((await cli('apps:info', app, '--json')).ms);
    }

    const fm = median(floor);
    const dm = median(deploy);
    const hm = median(help);
    const drain = median(steps.drain ?? []);
    out('');
    out(`| ${args.rounds} rounds, medians | value |`);
    out('|---|---|');
    out(`| floor: podman run -d + poll /health until 200 | ${fmtMs(fm)} |`);
    const vm = median(viaDaemon);
    out(`| pvdify deploy with pvdifyd running (control socket), first release of a fresh app | ${fmtMs(vm)} |`);
    out(`| **ratio deploy through pvdifyd / floor** | **${(vm / fm).toFixed(2)}×** |`);
    out(`| pvdify help with pvdifyd running (the CLI's own start-up + one round trip) | ${fmtMs(median(helpViaDaemon))} |`);
    out('| *without a daemon (PVDIFY_DIRECT=1): the CLI runs the command itself* | |');
    out(`| pvdify deploy, first release of a fresh app (wall, whole CLI process) | ${fmtMs(median(first))} |`);
    out(`| ratio first deploy / floor | ${(median(first) / fm).toFixed(2)}× |`);
    out(`| pvdify deploy, switch from the previous release (wall, whole CLI process) | ${fmtMs(dm)} |`);
    out(`| ratio switch deploy / floor | ${(dm / fm).toFixed(2)}× |`);
    out(`| pvdify help (CLI start-up) | ${fmtMs(hm)} |`);
    out(`| pvdify apps:info (start-up + open the state + one read) | ${fmtMs(median(info))} |`);
    out(`| of the deploy, drain step (PVDIFY_DRAIN_MS wait + stop old colour) | ${fmtMs(drain)} |`);
    out(`| deploy minus start-up and drain | ${fmtMs(dm - hm - drain)} |`);
    out(`| ratio (deploy − start-up − drain) / floor | ${((dm - hm - drain) / fm).toFixed(2)}× |`);
    const em = median(engineFirst);
    const esw = median(engineSwitch.map((ms, k) => ms - (engineDrain[k] ?? 0)));
    out(`| engine in this process (daemon/Slack path), first release of a fresh app | ${fmtMs(em)} |`);
    out(`| **ratio engine first deploy / floor** | **${(em / fm).toFixed(2)}×** |`);
    out(`| engine in this process, switch from the previous release, minus its drain step | ${fmtMs(esw)} |`);
    out(`| ratio engine (switch − drain) / floor | ${(esw / fm).toFixed(2)}× |`);
    out('');
    out(`per step (medians of the CLI's progress lines, 0.1 s resolution): ${Object.entries(steps)
      .map(([s, v]) => `${s} ${(median(v) / 1000).toFixed(1)} s`)
      .join(', ')}`);
    out(`raw (ms): floor ${floor.map(Math.round).join(' ')}; through pvdifyd ${viaDaemon.map(Math.round).join(' ')}; first deploy ${first.map(Math.round).join(' ')}; deploy ${deploy.map(Math.round).join(' ')}; engine first ${engineFirst.map(Math.round).join(' ')}; engine switch ${engineSwitch.map(Math.round).join(' ')} (drain ${engineDrain.map(Math.round).join(' ')}); help ${help.map(Math.round).join(' ')}; apps:info ${info.map(Math.round).join(' ')}`);
    return 0;
  } finally {
    try {
      await daemon?.stop();
      await runtime?.close();
    } finally {
      await live.dispose();
    }
  }
}

runIfMain(import.meta.url, main);
