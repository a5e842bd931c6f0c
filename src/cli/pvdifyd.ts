/**
 * `pvdifyd`: the daemon (`serve`) and the operator's maintenance commands. These run on the VPS
 * as root or the pvdify user, never from Slack.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPvdifyError } from '../core/errors.ts';
import type { Logger } from '../core/ports/clock.ts';
import { createRootLogger, openRuntime, podmanApiSocket, readEnvOptions, type Runtime, type RuntimeOptions } from '../main.ts';
import { PodmanApi } from '../adapters/podman/podman-api.ts';
import { startPodmanService, type PodmanService } from '../adapters/podman/podman-service.ts';
import { ensureRouterConfig, routerStatus, startRouterDetached, stopRouter } from '../adapters/caddy/caddy-process.ts';
import { ROUTER_UNIT_NAMES, renderRouterUnits } from '../adapters/systemd/unit-file.ts';
import { enableListenerHandover, listenerHandoverState } from '../adapters/host/listener-handover.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { regenerate } from './regenerate.ts';
import { startControlSocket } from './control-socket.ts';
import { decryptFileForOperator, encryptFileForOperator, keygen } from '../store/sops/operator.ts';
import { verifyAuditLog } from '../store/audit-log.ts';

interface Io {
  out(line: string): void;
  err(line: string): void;
}

const consoleIo: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

const USAGE = `usage: pvdifyd <command>

  serve                      run the daemon (stops cleanly on SIGTERM/SIGINT)
  rebuild-index              recreate pvdifyd.db from the YAML files in the state dir
  regenerate-units           rewrite units, env files, router and tunnel config from the YAML
  router start|stop|status   the Caddy router (kept running across daemon restarts)
  prune [--until 168h]       remove unused images older than --until, never those of an
                             app's last 3 releases
  audit verify               check the audit trail's hash chain; reports the first bad event
  keygen                     create the age identity at PVDIFY_AGE_KEY_FILE (mode 0600)
  sops decrypt FILE          print a SOPS file decrypted (needs the age key)
  sops encrypt FILE          print a plain YAML file encrypted for the key's recipient
  help                       this text

environment: PVDIFY_STATE_DIR (default /var/lib/pvdify), PVDIFY_AGE_KEY_FILE (default
/etc/pvdify/age.key), PVDIFY_AGE_RECIPIENTS, PVDIFY_LOG_LEVEL, PVDIFY_LOG (stdout|stderr|silent|FILE)`;

/** Waits for SIGTERM or SIGINT. */
function untilSignal(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    // Signal handlers do not keep Node running; this timer does, until a signal arrives.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const onSignal = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      log.info({ signal }, 'stopping');
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** Keeps the router up while the daemon runs; it outlives the daemon so restarts cost no traffic. */
function watchRouter(runtime: Runtime, log: Logger): () => void {
  const rt = runtime.options.runtime;
  if (rt.router === 'none') return () => {};
  const opts = { stateDir: runtime.options.stateDir, caddyPath: rt.caddyPath, adminAddress: rt.caddyAdmin, log };
  return every(WATCH_INTERVAL_MS, async () => {
    try {
      const status = await routerStatus(opts);
      if (!status.adminReachable) {
        log.warn('router is down: starting it again');
        if (rt.supervisor === 'podman') await startRouterDetached(opts);
        else for (const unit of ROUTER_UNIT_NAMES) await runtime.adapters.systemctl.start(unit);
        await runtime.engine.applyRoutes();
      }
    } catch (e) {
      log.error({ err: e }, 'router watchdog could not restart the router');
    }
  });
}

const WATCH_INTERVAL_MS = 5_000;

/**
 * Runs `fn` every `ms` in the background, never two runs at once (a slow run skips a tick);
 * the timer does not keep the process alive. Returns the function that stops it.
 */
function every(ms: number, fn: () => Promise<void>): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void fn().finally(() => {
      busy = false;
    });
  }, ms);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Runs `podman system service` on `<state>/podman.sock` while pvdifyd runs: the rollout starts
 * containers and checks images through it (a few ms per call instead of a CLI start-up each).
 * Without it everything goes through the CLI, so a failure here only costs speed; a service
 * that dies is started again by the same 5 s watch. One left by a killed pvdifyd is reused.
 */
async function startPodmanApi(options: RuntimeOptions, log: Logger): Promise<{ stop(): Promise<void> }> {
  const socketPath = podmanApiSocket(options.stateDir);
  let service: PodmanService | null = null;
  const ensure = async (): Promise<void> => {
    if (service?.alive()) return;
    if (await new PodmanApi({ socketPath }).ping()) return;
    try {
      service = await startPodmanService({ bin: options.runtime.podmanPath, socketPath, log });
      log.info({ socketPath, pid: service.pid }, 'podman API service started');
    } catch (e) {
      log.warn({ err: e }, 'podman API service did not start: containers are started through the podman CLI (slower)');
    }
  };
  await ensure();
  const stopWatch = every(WATCH_INTERVAL_MS, ensure);
  return {
    async stop() {
      stopWatch();
      await service?.stop();
    },
  };
}

async function serve(options: RuntimeOptions, io: Io): Promise<number> {
  const log = createRootLogger(options, 'pvdifyd');
  if (!existsSync(options.ageKeyFile)) {
    // First start on a fresh VPS: make the key so config:set works; operators back it up.
    const recipient = await keygen(options.ageKeyFile);
    log.warn({ keyFile: options.ageKeyFile, recipient }, 'created a new age identity; back it up, it decrypts every config version');
  }
  const runtime = await openRuntime(options, { log });
  const problems = runtime.store.problems();
  for (const p of problems) log.warn({ path: p.path }, `state file skipped: ${p.message}`);
  try {
    if (options.runtime.router === 'caddy') await enableListenerHandover(log);
    if (options.runtime.supervisor === 'systemd' && options.runtime.router === 'caddy') await installRouterUnit(runtime);
    await runtime.adapters.ensureRouter();
    const report = await runtime.engine.recover();
    log.info({ interrupted: report.interrupted.length, orphans: report.orphansStopped.length }, 'state checked against the running instances');
  } catch (e) {
    // The daemon keeps running (the CLI and later Slack need it); the log says what to fix.
    log.error({ err: e }, 'start-up recovery did not complete; run `pvdifyd regenerate-units` once the cause is fixed');
  }
  const stopWatch = watchRouter(runtime, log);
  const podmanApi = await startPodmanApi(options, log);
  const control = await startControlSocket({ stateDir: options.stateDir, runtime, log });
  log.info({ stateDir: options.stateDir, apps: runtime.store.listApps().length, pid: process.pid, supervisor: options.runtime.supervisor, router: options.runtime.router }, 'pvdifyd started');
  io.err(`pvdifyd: serving from ${options.stateDir} (pid ${process.pid}); SIGTERM stops it`);
  await untilSignal(log);
  stopWatch();
  // Commands in progress (a deploy) finish before the runtime closes under them.
  await control.close();
  await podmanApi.stop();
  await runtime.close();
  log.info('pvdifyd stopped (the router and the apps keep running)');
  return 0;
}

/** Writes the router's two units when they differ and reloads systemd. */
async function installRouterUnit(runtime: Runtime): Promise<boolean> {
  const rt = runtime.options.runtime;
  const units = renderRouterUnits({ caddyPath: rt.caddyPath, stateDir: runtime.options.stateDir }).filter((u) => {
    const path = join(rt.unitDir, u.name);
    return !existsSync(path) || readFileSync(path, 'utf8') !== u.text;
  });
  if (units.length === 0) return false;
  await ensureRouterConfig(runtime.options.stateDir, rt.caddyAdmin);
  for (const u of units) writeFileAtomic(join(rt.unitDir, u.name), u.text, { mode: 0o644 });
  await runtime.adapters.systemctl.daemonReload();
  for (const u of units) await runtime.adapters.systemctl.enable(u.name);
  return true;
}

async function routerCommand(verb: string | undefined, options: RuntimeOptions, io: Io): Promise<number> {
  const rt = options.runtime;
  const log = createRootLogger({ ...options, logDestination: 'stderr', logLevel: 'warn' }, 'pvdifyd');
  const opts = { stateDir: options.stateDir, caddyPath: rt.caddyPath, adminAddress: rt.caddyAdmin, log };
  if (rt.router === 'none') {
    io.err('PVDIFY_ROUTER=none: there is no router process; containers publish their bind_port directly');
    return 1;
  }
  switch (verb) {
    case 'start': {
      const r = await startRouterDetached(opts);
      io.out(r.alreadyRunning ? `router already running (pid ${r.pid})` : `router started (pid ${r.pid}), admin API ${rt.caddyAdmin}`);
      const runtime = await openRuntime({ ...options, logDestination: 'stderr', logLevel: 'warn' }, { log });
      try {
        await runtime.engine.applyRoutes();
      } finally {
        await runtime.close();
      }
      return 0;
    }
    case 'stop': {
      const r = await stopRouter(opts);
      io.out(r.stopped ? `router stopped (pid ${r.pid}${r.forced ? ', killed after the timeout' : ''})` : 'router was not running');
      return 0;
    }
    case 'status': {
      const s = await routerStatus(opts);
      const handover = await listenerHandoverState();
      const tier = (name: string, t: typeof s.tiers.apps) => [
        `${name}: ${t.running ? `running (pid ${t.pid}, ${t.mode})` : 'not running'}, admin API ${t.adminReachable ? 'answering' : 'not answering'}`,
        `  config: ${t.configPath}`,
        `  log: ${t.runLog} (rolled; start-up and crashes: ${t.logFile})`,
      ];
      io.out(
        [
          `running: ${s.running ? `yes (pid ${s.pid}, ${s.mode})` : 'no'}`,
          `admin API: ${rt.caddyAdmin} (${s.adminReachable ? 'answering' : 'not answering'})`,
          ...tier('apps tier', s.tiers.apps),
          ...tier('front tier (router ports)', s.tiers.front),
          `net.ipv4.tcp_migrate_req: ${handover === 'on' ? '1' : handover === 'off' ? '0 (creating or deleting an app may reset a few connections; set it to 1)' : 'not supported by this kernel'}`,
        ].join('\n'),
      );
      return s.running && s.adminReachable ? 0 : 3;
    }
    default:
      io.err('usage: pvdifyd router start|stop|status');
      return 1;
  }
}

export async function runDaemonCli(argv: string[], io: Io = consoleIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        if (rest.length > 0) {
          io.err(`pvdifyd serve takes no arguments (got ${JSON.stringify(rest.join(' ').slice(0, 80))}); configure it with PVDIFY_* variables`);
          return 1;
        }
        return await serve(readEnvOptions(env, 'daemon'), io);
      case 'rebuild-index': {
        const options = readEnvOptions(env, 'cli');
        const runtime = await openRuntime({ ...options, logDestination: env.PVDIFY_LOG || 'stderr', logLevel: env.PVDIFY_LOG_LEVEL || 'warn' });
        try {
          const r = runtime.store.rebuildIndex();
          io.out(
            `rebuilt ${options.stateDir}/pvdifyd.db in ${Math.round(r.durationMs)} ms: ${r.apps} apps, ${r.releases} releases, ` +
              `${r.configVersions} config versions, ${r.approvals} approvals, ${r.auditEvents} audit events`,
          );
          for (const p of r.problems) io.err(`skipped ${p.path}: ${p.message}`);
          return r.problems.length > 0 ? 1 : 0;
        } finally {
          await runtime.close();
        }
      }
      case 'router':
        if (rest.length !== 1) {
          io.err('usage: pvdifyd router start|stop|status');
          return 1;
        }
        return await routerCommand(rest[0], readEnvOptions(env, 'cli'), io);
      case 'regenerate-units': {
        if (rest.length > 0) {
          io.err('usage: pvdifyd regenerate-units');
          return 1;
        }
        const options = readEnvOptions(env, 'cli');
        const runtime = await openRuntime({ ...options, logDestination: env.PVDIFY_LOG || 'stderr', logLevel: env.PVDIFY_LOG_LEVEL || 'warn' });
        try {
          const report = await regenerate(runtime);
          for (const line of report.lines) io.out(line);
          io.out(`${report.changed} file(s) changed, ${report.unchanged} unchanged`);
          return report.problems > 0 ? 1 : 0;
        } finally {
          await runtime.close();
        }
      }
      case 'prune': {
        const until = rest[0] === '--until' && rest.length === 2 ? rest[1] : rest.length === 0 ? '168h' : null;
        if (until === null || until === undefined || !/^\d{1,6}(s|m|h|d)$/.test(until)) {
          io.err('usage: pvdifyd prune [--until 168h]   (a duration: 30m, 168h, 7d)');
          return 1;
        }
        const options = readEnvOptions(env, 'cli');
        const runtime = await openRuntime({ ...options, logDestination: env.PVDIFY_LOG || 'stderr', logLevel: env.PVDIFY_LOG_LEVEL || 'warn' });
        try {
          const r = await runtime.engine.pruneImages(until);
          for (const name of r.removed) io.out(`removed ${name}`);
          io.out(`${r.removed.length} image(s) removed, ${(r.reclaimedBytes / 1024 / 1024).toFixed(1)} MiB reclaimed; kept ${r.kept.length} image(s) of the last 3 releases of each app`);
          return 0;
        } finally {
          await runtime.close();
        }
      }
      case 'audit': {
        if (rest[0] !== 'verify' || rest.length !== 1) {
          io.err('usage: pvdifyd audit verify');
          return 1;
        }
        const options = readEnvOptions(env, 'cli');
        const result = verifyAuditLog(options.stateDir);
        if (result.ok) {
          io.out(`audit trail ok: ${result.count} events, hash chain intact`);
          return 0;
        }
        io.err(`audit trail broken: ${result.problem}`);
        return 1;
      }
      case 'keygen': {
        if (rest.length > 0) {
          io.err('usage: pvdifyd keygen   (writes PVDIFY_AGE_KEY_FILE)');
          return 1;
        }
        const options = readEnvOptions(env, 'cli');
        const recipient = await keygen(options.ageKeyFile);
        io.out(`wrote ${options.ageKeyFile} (mode 0600)\npublic key: ${recipient}`);
        io.err('Back this file up somewhere safe: without it no config version can be decrypted.');
        return 0;
      }
      case 'sops': {
        const [verb, file, ...extra] = rest;
        if ((verb !== 'decrypt' && verb !== 'encrypt') || !file || extra.length > 0) {
          io.err('usage: pvdifyd sops decrypt FILE | pvdifyd sops encrypt FILE');
          return 1;
        }
        const options = readEnvOptions(env, 'cli');
        const text = verb === 'decrypt'
          ? await decryptFileForOperator(file, options.ageKeyFile)
          : await encryptFileForOperator(file, options.ageKeyFile, options.extraRecipients);
        process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
        return 0;
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 1 : 0;
      default:
        io.err(`pvdifyd: unknown command ${JSON.stringify(command.slice(0, 80))}\n\n${USAGE}`);
        return 1;
    }
  } catch (e) {
    if (isPvdifyError(e)) {
      io.err(`pvdifyd: ${e.message}`);
      if (e.hint) io.err(`  ${e.hint}`);
      return 1;
    }
    io.err(`pvdifyd: internal error: ${(e as Error).message}`);
    return 2;
  }
}
