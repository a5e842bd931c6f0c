/**
 * The rollout engine: every change that touches running containers (deploy, config release,
 * rollback, scale, restart, delete) goes through here. Blue-green per app:
 *
 *   lock → snapshot → release pending → pull → env file → start new colour on fresh ports →
 *   wait healthy → switch the router (atomic) → drain → stop old colour → release succeeded
 *
 * Any failure before the switch stops the new colour; the old one never stopped serving.
 */
import { ConflictError, DeployStepError, InvalidInputError, NotFoundError, PvdifyError, isPvdifyError } from '../errors.ts';
import type { Actor, AppSlot, Colour, Deployment, InstanceRecord, Release } from '../model.ts';
import { ImageRef } from '../names.ts';
import type { Clock, Logger } from '../ports/clock.ts';
import type {
  Edge,
  HealthProbe,
  ImageRuntime,
  InstanceRef,
  InstanceSpec,
  InstanceState,
  InstanceStats,
  LogLine,
  PruneResult,
  RegistryAuth,
  Router,
  RouteSpec,
  Snapshotter,
  Supervisor,
} from '../ports/runtime.ts';
import type { ConfigVault } from '../ports/secrets.ts';
import type { StateStore } from '../ports/store.ts';
import { instancePort, otherColour } from './instance-ports.ts';
import { parseCommandLine } from '../grammar/tokenize.ts';
import type { DeployStep, ProgressListener } from './progress.ts';
import { redactSecrets } from './redact.ts';

export interface RolloutTiming {
  /** How long new instances get to become healthy. */
  healthDeadlineMs: number;
  /** Poll interval while waiting for health during a rollout. */
  healthIntervalMs: number;
  /** Time between the router switch and stopping the old colour, for in-flight requests. */
  drainMs: number;
  /** Workers have no health path: they must stay running this long. */
  workerSettleMs: number;
}

export const DEFAULT_TIMING: RolloutTiming = {
  healthDeadlineMs: 60_000,
  healthIntervalMs: 250,
  drainMs: 1_500,
  workerSettleMs: 1_000,
};

export interface RolloutDeps {
  store: StateStore;
  vault: ConfigVault;
  clock: Clock;
  log: Logger;
  supervisor: Supervisor;
  images: ImageRuntime;
  router: Router;
  edge: Edge;
  probe: HealthProbe;
  snapshots: Snapshotter;
  /** Podman env-file text for the values; refuses values it cannot represent. */
  renderEnvFile(values: Record<string, string>): string;
  /** Registry credentials for an image, from the daemon's environment. */
  registryAuth?(image: string): RegistryAuth | null;
  timing?: Partial<RolloutTiming>;
  sleep?(ms: number): Promise<void>;
}

export interface InstanceView extends InstanceState {
  /** True when the instance belongs to the colour the router sends traffic to. */
  live: boolean;
  stats: InstanceStats | null;
}

export interface RecoveryReport {
  interrupted: Array<{ app: string; version: number }>;
  orphansStopped: string[];
}

export interface RolloutOptions {
  onProgress?: ProgressListener;
  /** The caller already holds the app lock (config changes take it before writing the version). */
  lockHeld?: boolean;
}

/** Max instances of one process type (0–20 per the issue). */
export const MAX_SCALE = 20;

/** Health polling: this interval for the first HEALTH_FAST_WINDOW_MS, then `healthIntervalMs`. */
const HEALTH_FAST_INTERVAL_MS = 10;
const HEALTH_FAST_WINDOW_MS = 2_000;
/** While an instance is not healthy yet, whether its container exited is checked this often. */
const STATE_CHECK_AFTER_PROBES = 4;
const STATE_CHECK_EVERY_MS = 1_000;

const sleepReal = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A promise started ahead of the step that awaits it: marked handled now, so a failure while
 * an earlier step runs is not an unhandled rejection; the step awaiting it still sees it.
 */
function settleLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** The router's upstreams for a set of instances: the ports of the web ones. */
function webPorts(instances: InstanceRecord[]): number[] {
  return instances.filter((i) => i.process === 'web' && i.port !== null).map((i) => i.port as number);
}

function parseDurationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(d);
  if (!m) return 5_000;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
}

export function createRolloutEngine(deps: RolloutDeps) {
  const timing: RolloutTiming = { ...DEFAULT_TIMING, ...deps.timing };
  const sleep = deps.sleep ?? sleepReal;
  const { store, log } = deps;

  function requireApp(name: string): AppSlot {
    const app = store.getApp(name);
    if (!app) throw new NotFoundError(`app ${name} does not exist`, 'list apps with `apps`, or create it with `apps:create`');
    return app;
  }

  /** The router's view of every app, from the slots (the single source of routing truth). */
  function routesFromSlots(override?: { app: string; upstreams: number[] }): RouteSpec[] {
    return store.listApps().map((a) => ({
      app: a.name,
      bindPort: a.bind_port,
      healthPath: a.healthcheck.path,
      upstreams:
        override && override.app === a.name
          ? override.upstreams
          : webPorts(a.deployment?.instances ?? []),
    }));
  }

  async function applyRoutes(override?: { app: string; upstreams: number[] }): Promise<void> {
    if (deps.router.kind === 'none') return;
    await deps.router.apply(routesFromSlots(override));
  }

  async function applyEdge(): Promise<{ changed: boolean; restarted: boolean }> {
    const routes = store
      .listApps()
      .flatMap((a) => a.domains.map((hostname) => ({ hostname, bindPort: a.bind_port })))
      .sort((x, y) => x.hostname.localeCompare(y.hostname));
    return deps.edge.apply(routes);
  }

  /** Plans the instances of a colour from the slot's process counts. */
  function planInstances(app: AppSlot, colour: Colour): InstanceRecord[] {
    const out: InstanceRecord[] = [];
    for (const [process, spec] of Object.entries(app.processes).sort(([a], [b]) => a.localeCompare(b))) {
      for (let index = 1; index <= spec.count; index++) {
        const port = process === 'web' ? (deps.router.kind === 'none' ? app.bind_port : instancePort(app.bind_port, colour, index)) : null;
        out.push({ process, index, port });
      }
    }
    return out;
  }

  /**
   * Sets up the supervisor's per-slot resources (network pods) for the app's process counts in
   * both colours, so the next deploy finds them, and frees the ones the counts no longer use.
   * Called when an app is created and when its counts change; a failure is logged, not fatal
   * (a deploy sets up what is missing, and refuses a port someone else holds).
   */
  async function syncSlots(app: AppSlot): Promise<void> {
    const keep = (['blue', 'green'] as const).flatMap((colour) =>
      planInstances(app, colour).map((i) => ({ process: i.process, colour, index: i.index, hostPort: i.port })),
    );
    await deps.supervisor.syncSlots(app.name, keep).catch((err: unknown) => log.warn({ err, app: app.name }, 'could not set up the instance slots'));
  }

  function sameInstances(a: InstanceRecord[], b: InstanceRecord[]): boolean {
    const key = (i: InstanceRecord) => `${i.process}.${i.index}.${String(i.port !== null)}`;
    return a.length === b.length && a.map(key).sort().join() === b.map(key).sort().join();
  }

  function specFor(app: AppSlot, release: Release, colour: Colour, inst: InstanceRecord, envFile: string): InstanceSpec {
    const command = Object.hasOwn(app.processes, inst.process) ? (app.processes[inst.process]?.command ?? null) : null;
    return {
      app: app.name,
      process: inst.process,
      colour,
      index: inst.index,
      image: release.image,
      // Same quoting as the /pvdify line; argv for podman, never a shell.
      command: command ? parseCommandLine(command) : null,
      hostPort: inst.port,
      envFile,
      memory: app.resources.memory,
      cpu: app.resources.cpu,
      release: release.version,
    };
  }

  function refOf(app: string, colour: Colour, inst: InstanceRecord): InstanceRef {
    return { app, process: inst.process, colour, index: inst.index };
  }

  /** Images the last `keep` releases of every app may need (for prune). */
  function imagesToKeep(keep = 3): string[] {
    const out = new Set<string>();
    for (const app of store.listApps()) {
      // The last `keep` releases whatever their status: a rollback target must still be pullable offline.
      for (const r of store.listReleases(app.name, keep)) out.add(r.image);
      if (app.image) out.add(app.image);
    }
    return [...out];
  }

  /** The env file a colour's instances read (written by the env step, mode 0600). */
  function colourEnvFile(app: string, colour: Colour): string {
    return `${store.root}/config/${app}/${colour}.env`;
  }

  /**
   * The app's newest config version, from the config versions themselves. The slot's
   * `config_version` is a copy written by a later mutation: after a crash between the two it lags,
   * and a deploy must not silently ship the older config.
   */
  function latestConfigVersion(app: string): number | null {
    return store.listConfigVersions(app)[0]?.version ?? null;
  }

  async function configValues(app: string, version: number | null): Promise<Record<string, string>> {
    if (version === null) return {};
    return deps.vault.decrypt(store.readConfigVersion(app, version));
  }

  async function logTail(app: string, refs: InstanceRef[], secrets: string[]): Promise<string[]> {
    try {
      const lines: LogLine[] = [];
      for (const ref of refs) lines.push(...(await deps.supervisor.logs(app, { lines: 20, ref })));
      return redactSecrets(
        lines.slice(-20).map((l) => (refs.length > 1 ? `${l.source}: ${l.message}` : l.message)),
        secrets,
      );
    } catch (e) {
      log.warn({ err: e, app }, 'could not read logs of the failed instances');
      return [];
    }
  }

  /** Waits until a web instance answers its health path, failing fast if its container dies. */
  async function waitHealthy(app: AppSlot, ref: InstanceRef, port: number): Promise<void> {
    const timeoutMs = Math.min(parseDurationMs(app.healthcheck.timeout), 10_000);
    const startedAt = Date.now();
    const deadline = startedAt + timing.healthDeadlineMs;
    let attempts = 0;
    let lastStateCheck = -Infinity;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      attempts++;
      const r = await deps.probe.check(port, app.healthcheck.path, timeoutMs);
      if (r.ok) return;
      last = r.status !== null ? `HTTP ${r.status}` : (r.error ?? 'no answer');
      // Asking the supervisor costs a podman/systemctl call (~50 ms of CPU the starting instance
      // competes for): after the first few failed probes, then at most once a second.
      if (attempts >= STATE_CHECK_AFTER_PROBES && Date.now() - lastStateCheck >= STATE_CHECK_EVERY_MS) {
        lastStateCheck = Date.now();
        const state = (await deps.supervisor.list(app.name)).find(
          (s) => s.process === ref.process && s.colour === ref.colour && s.index === ref.index,
        );
        if (state && (state.state === 'failed' || state.state === 'stopped')) {
          throw new Error(`${ref.process}.${ref.index} exited before it became healthy (last probe: ${last})`);
        }
      }
      // Most instances answer within a few hundred ms of starting, and every poll interval spent
      // after that is deploy time: poll at a short, constant interval first (a probe is one
      // loopback connection), then settle on the configured interval.
      const fast = Date.now() - startedAt < HEALTH_FAST_WINDOW_MS;
      await sleep(fast ? Math.min(timing.healthIntervalMs, HEALTH_FAST_INTERVAL_MS) : timing.healthIntervalMs);
    }
    throw new Error(
      `${ref.process}.${ref.index} did not answer ${app.healthcheck.path} with 2xx within ${Math.round(timing.healthDeadlineMs / 1000)} s (last probe: ${last})`,
    );
  }

  async function waitWorkerRunning(app: AppSlot, ref: InstanceRef): Promise<void> {
    await sleep(timing.workerSettleMs);
    const state = (await deps.supervisor.list(app.name)).find(
      (s) => s.process === ref.process && s.colour === ref.colour && s.index === ref.index,
    );
    if (!state || state.state !== 'running') throw new Error(`${ref.process}.${ref.index} is not running (${state?.state ?? 'missing'})`);
  }

  class Steps {
    constructor(
      private readonly appName: string,
      private release: number | null,
      private readonly onProgress?: ProgressListener,
    ) {}
    setRelease(v: number) {
      this.release = v;
    }
    async run<T>(step: DeployStep, fn: () => Promise<T>, detail?: string): Promise<T> {
      const started = Date.now();
      this.onProgress?.({ app: this.appName, release: this.release, step, status: 'started', detail });
      try {
        const value = await fn();
        this.onProgress?.({ app: this.appName, release: this.release, step, status: 'ok', durationMs: Date.now() - started, detail });
        return value;
      } catch (e) {
        const message = isPvdifyError(e) || e instanceof Error ? e.message : String(e);
        this.onProgress?.({ app: this.appName, release: this.release, step, status: 'failed', durationMs: Date.now() - started, detail: message });
        throw e;
      }
    }
  }

  async function stopInstances(appName: string, colour: Colour, instances: InstanceRecord[]): Promise<void> {
    for (const inst of instances) {
      try {
        await deps.supervisor.stop(refOf(appName, colour, inst));
      } catch (e) {
        log.error({ err: e, app: appName, colour, process: inst.process, index: inst.index }, 'could not stop instance');
      }
    }
  }

  /**
   * Runs a release that already exists in `pending` state through the pipeline. The caller
   * holds the app lock. Resolves with the final release (succeeded); throws DeployStepError
   * (release marked failed) otherwise.
   */
  async function runRelease(release: Release, actor: Actor, onProgress?: ProgressListener): Promise<Release> {
    const steps = new Steps(release.app, release.version, onProgress);
    let app = requireApp(release.app);
    const previous = app.deployment;
    const colour = otherColour(previous?.colour);
    const planned = planInstances(app, colour);
    const started: InstanceRecord[] = [];
    let secrets: string[] = [];
    let envText = '';
    let switched = false;
    let step: DeployStep = 'snapshot';
    const log2 = log.child({ app: app.name, release: release.version, actor: actor.id });
    const refused = deps.router.kind === 'none' && (app.processes.web?.count ?? 0) > 1;
    // Neither the pull nor decrypting the config changes anything the snapshot captures, and the
    // pull is the slowest step before start (a podman call at least, a download at most): both
    // begin before the status writes below. Their steps are still announced in pipeline order; a
    // failure surfaces in its own step. A refused release starts nothing.
    const pulling = refused ? null : settleLater(deps.images.pull(release.image, { auth: deps.registryAuth?.(release.image) ?? null }));
    const decrypting = refused ? null : settleLater(configValues(app.name, release.config_version));
    const markDeploying = () => {
      store.updateReleaseStatus(app.name, release.version, { status: 'deploying' });
      store.updateApp(app.name, (a) => ({ ...a, status: 'deploying' }));
    };
    try {
      if (refused || !pulling || !decrypting) {
        throw new InvalidInputError('router "none" serves one web instance per app (the container publishes bind_port itself)', 'scale web to 1, or use the caddy router');
      }
      // The snapshot and the pull touch different things: run them side by side.
      const snapshot = steps.run('snapshot', () => deps.snapshots.create(`${app.name} v${release.version}`));
      step = 'pull';
      const pull = steps.run('pull', () => pulling, release.image);
      // The release is `pending` already (an interrupted one is recovered either way): the two
      // status writes go here, while tar and the pull run, rather than ahead of them.
      markDeploying();
      const [snapResult, pullResult] = await Promise.allSettled([snapshot, pull]);
      if (pullResult.status === 'rejected') throw pullResult.reason;
      if (snapResult.status === 'rejected') {
        step = 'snapshot';
        throw snapResult.reason;
      }
      step = 'env';
      const envFile = await steps.run('env', async () => {
        const values = await decrypting;
        secrets = Object.values(values);
        envText = deps.renderEnvFile(values);
        return store.writeSecretFile(app.name, `${colour}.env`, envText);
      });
      if (deps.router.kind === 'none' && previous) {
        // No router to hold traffic: the old container must free bind_port first (documented downtime).
        step = 'drain';
        await steps.run('drain', () => stopInstances(app.name, previous.colour, previous.instances), 'router none: stopping the old instance first');
      }
      step = 'start';
      await steps.run('start', async () => {
        for (const inst of planned) {
          await deps.supervisor.start(specFor(app, release, colour, inst, envFile));
          started.push(inst);
        }
      }, `${planned.length} instance(s), colour ${colour}`);
      step = 'health';
      await steps.run('health', async () => {
        await Promise.all(
          planned.map((inst) =>
            inst.port !== null
              ? waitHealthy(app, refOf(app.name, colour, inst), inst.port)
              : waitWorkerRunning(app, refOf(app.name, colour, inst)),
          ),
        );
      });
      step = 'switch';
      const deployment: Deployment = { colour, release: release.version, instances: planned };
      await steps.run('switch', async () => {
        // The slot is the routing truth, and the router is made to match it. Both change side by
        // side: the router request is sent first and the slot is written while Caddy loads it.
        // Whichever lands alone (a crash, a refusal), recovery re-applies the routes from the
        // slots, and the old colour is still running until the drain.
        const routing = settleLater(applyRoutes({ app: app.name, upstreams: webPorts(planned) }));
        try {
          app = store.updateApp(app.name, (a) => ({ ...a, deployment }));
        } catch (e) {
          await routing.catch(() => {});
          await applyRoutes().catch((err: unknown) => log2.error({ err }, 'could not restore the previous routes'));
          throw e;
        }
        try {
          await routing;
        } catch (e) {
          // The router did not take the new upstreams: point the slot back at the old colour.
          app = store.updateApp(app.name, (a) => ({ ...a, deployment: previous }));
          await applyRoutes().catch((err: unknown) => log2.error({ err }, 'could not restore the previous routes'));
          throw e;
        }
        switched = true;
      });
      if (previous && deps.router.kind !== 'none') {
        step = 'drain';
        await steps.run('drain', async () => {
          await sleep(timing.drainMs);
          await stopInstances(app.name, previous.colour, previous.instances);
          if (!sameInstances(previous.instances, planned)) await syncSlots(app);
        });
      }
      step = 'finish';
      return await steps.run('finish', async () => {
        // The env step rendered it already: current.env is the live colour's file, byte for byte.
        store.writeSecretFile(app.name, 'current.env', envText);
        const superseded = app.current_release;
        store.updateApp(app.name, (a) => ({
          ...a,
          status: 'running',
          image: release.image,
          current_release: release.version,
        }));
        if (superseded !== null && superseded !== release.version) {
          const old = store.getRelease(app.name, superseded);
          if (old && old.status === 'succeeded') store.updateReleaseStatus(app.name, superseded, { status: 'superseded' });
        }
        const done = store.updateReleaseStatus(app.name, release.version, { status: 'succeeded', finished: true });
        log2.info({ colour, instances: planned.length }, 'release succeeded');
        return done;
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      log2.error({ err: e, step }, 'release failed');
      let tail: string[] = [];
      if (!switched) {
        const failedRefs = started.map((i) => refOf(app.name, colour, i));
        tail = await logTail(app.name, failedRefs, secrets);
        await stopInstances(app.name, colour, started);
        if (deps.router.kind === 'none' && previous) {
          // Bring the old instance back: it was stopped to free the port.
          const prevRelease = store.getRelease(app.name, previous.release);
          if (prevRelease) {
            for (const inst of previous.instances) {
              await deps.supervisor
                .start(specFor(app, prevRelease, previous.colour, inst, colourEnvFile(app.name, previous.colour)))
                .catch((err: unknown) => log2.error({ err }, 'could not restart the previous instance'));
            }
          }
        }
      }
      const userMessage = isPvdifyError(e) ? e.message : message;
      store.updateReleaseStatus(app.name, release.version, {
        status: 'failed',
        finished: true,
        error: { step, message: userMessage.slice(0, 2000) },
      });
      store.updateApp(app.name, (a) => ({ ...a, status: a.deployment ? 'running' : 'failed' }));
      if (e instanceof DeployStepError) throw e;
      throw new DeployStepError(
        step,
        `release v${release.version} of ${app.name} failed at ${step}: ${userMessage}`,
        tail,
        previous ? `v${previous.release} is still serving` : 'nothing was serving before; fix the image and deploy again',
      );
    }
  }

  /**
   * With the app lock held, a release still `pending`/`deploying` belongs to a process that died:
   * mark it failed and stop instances that are not the slot's live colour. `full` also checks for
   * orphans when no release was interrupted (daemon start); a rollout only pays for the
   * supervisor listing when it found something to clean.
   */
  async function recoverApp(appName: string, report: RecoveryReport, full: boolean): Promise<void> {
    const app = requireApp(appName);
    let interrupted = false;
    for (const r of store.listReleases(app.name, 20)) {
      if (r.status === 'pending' || r.status === 'deploying') {
        store.updateReleaseStatus(app.name, r.version, {
          status: 'failed',
          finished: true,
          error: { step: 'interrupted', message: 'the process running this release stopped; the previous release kept serving' },
        });
        report.interrupted.push({ app: app.name, version: r.version });
        interrupted = true;
      }
    }
    if (app.status === 'deploying') store.updateApp(app.name, (a) => ({ ...a, status: a.deployment ? 'running' : 'failed' }));
    if (!full && !interrupted) return;
    const live = app.deployment;
    for (const s of await deps.supervisor.list(app.name)) {
      const isLive = live && s.colour === live.colour && live.instances.some((i) => i.process === s.process && i.index === s.index);
      if (!isLive) {
        await deps.supervisor.stop(s).catch((err: unknown) => log.error({ err, instance: s.name }, 'could not stop orphan'));
        report.orphansStopped.push(s.name);
      }
    }
    if (interrupted) log.warn({ app: app.name, report }, 'cleaned up after an interrupted rollout');
  }

  async function withLock<T>(appName: string, actor: Actor, operation: string, opts: RolloutOptions, fn: () => Promise<T>): Promise<T> {
    if (opts.lockHeld) return fn();
    const lock = store.acquireAppLock(appName, actor.id, operation);
    try {
      await recoverApp(appName, { interrupted: [], orphansStopped: [] }, false);
      return await fn();
    } finally {
      lock.release();
    }
  }

  function validateImage(image: string): string {
    const parsed = ImageRef.safeParse(image);
    if (!parsed.success) {
      throw new InvalidInputError(
        `${JSON.stringify(image.slice(0, 100))} is not a valid image reference`,
        'use something like ghcr.io/org/app:v1.2.3 (no spaces, no leading -, at most 255 chars)',
      );
    }
    return parsed.data;
  }

  /** The instance specs of the app's live colour as the slot describes them (regenerate-units). */
  function liveSpecs(appName: string): InstanceSpec[] {
    const app = requireApp(appName);
    const dep = app.deployment;
    if (!dep) return [];
    const release = store.getRelease(app.name, dep.release);
    if (!release) throw new NotFoundError(`${app.name} runs v${dep.release} but releases/${app.name}/v${dep.release}.yaml is missing`);
    const envFile = colourEnvFile(app.name, dep.colour);
    return dep.instances.map((inst) => specFor(app, release, dep.colour, inst, envFile));
  }

  return {
    routesFromSlots,
    applyRoutes,
    applyEdge,
    liveSpecs,
    configValues,
    /** After apps:create: the new app's instance slots, ready for its first deploy. */
    prepareSlots: syncSlots,

    /** `deploy NAME IMAGE`: a new release with the app's newest config. */
    async deploy(appName: string, image: string, actor: Actor, opts: RolloutOptions & { approvedBy?: string | null } = {}): Promise<Release> {
      const ref = validateImage(image);
      const app = requireApp(appName);
      return withLock(app.name, actor, 'deploy', opts, async () => {
        const fresh = requireApp(app.name);
        const release = store.createRelease({
          app: fresh.name,
          kind: 'deploy',
          image: ref,
          config_version: latestConfigVersion(fresh.name),
          description: `Deploy ${ref}`,
          source: actor.source,
          created_by: actor.id,
          created_by_name: actor.name,
          approved_by: opts.approvedBy ?? null,
          rollback_of: null,
        });
        return runRelease(release, actor, opts.onProgress);
      });
    },

    /** Runs a release created elsewhere (config change). The caller holds the app lock. */
    rollout(release: Release, actor: Actor, opts: RolloutOptions = {}): Promise<Release> {
      return runRelease(release, actor, opts.onProgress);
    },

    /** `rollback NAME [vN]`: a new release reusing vN's image and config (default: the one before current). */
    async rollback(appName: string, target: number | undefined, actor: Actor, opts: RolloutOptions = {}): Promise<Release> {
      const app = requireApp(appName);
      return withLock(app.name, actor, 'rollback', opts, async () => {
        const fresh = requireApp(app.name);
        let to: Release | null;
        if (target !== undefined) {
          to = store.getRelease(fresh.name, target);
          if (!to) throw new NotFoundError(`${fresh.name} has no release v${target}`, `list them with: releases ${fresh.name}`);
          if (to.version === fresh.current_release) throw new ConflictError(`v${target} is already the current release of ${fresh.name}`);
        } else {
          const candidates = store
            .listReleases(fresh.name, 1000)
            .filter((r) => r.version < (fresh.current_release ?? 0) && (r.status === 'succeeded' || r.status === 'superseded'));
          to = candidates[0] ?? null;
          if (!to) throw new NotFoundError(`${fresh.name} has no earlier release to roll back to`, `list them with: releases ${fresh.name}`);
        }
        const release = store.createRelease({
          app: fresh.name,
          kind: 'rollback',
          image: to.image,
          config_version: to.config_version,
          description: `Rollback to v${to.version}`,
          source: actor.source,
          created_by: actor.id,
          created_by_name: actor.name,
          approved_by: null,
          rollback_of: to.version,
        });
        return runRelease(release, actor, opts.onProgress);
      });
    },

    /**
     * `ps:scale NAME web=3 worker=1`: starts or stops instances of the live colour; new web
     * instances join the router only once healthy, removed ones leave it before they stop.
     */
    async scale(appName: string, counts: Record<string, number>, actor: Actor, opts: RolloutOptions = {}): Promise<AppSlot> {
      const app = requireApp(appName);
      const problems: string[] = [];
      for (const [type, n] of Object.entries(counts)) {
        if (!Object.hasOwn(app.processes, type)) problems.push(`${app.name} has no process type ${type} (it has ${Object.keys(app.processes).join(', ')})`);
        if (!Number.isInteger(n) || n < 0 || n > MAX_SCALE) problems.push(`${type}=${n}: counts go from 0 to ${MAX_SCALE}`);
      }
      if (deps.router.kind === 'none' && (counts.web ?? 0) > 1) problems.push('router "none" serves one web instance per app');
      if (problems.length > 0) throw new InvalidInputError(problems.join('; '));
      return withLock(app.name, actor, 'ps:scale', opts, async () => {
        const steps = new Steps(app.name, app.current_release, opts.onProgress);
        let fresh = requireApp(app.name);
        const processes = { ...fresh.processes };
        for (const [type, n] of Object.entries(counts)) processes[type] = { ...(processes[type] ?? { command: null, count: 0 }), count: n };
        const dep = fresh.deployment;
        if (!dep || fresh.current_release === null) {
          // Nothing runs yet: the counts apply at the next deploy.
          fresh = store.updateApp(fresh.name, (a) => ({ ...a, processes }));
          await syncSlots(fresh);
          return fresh;
        }
        const release = store.getRelease(fresh.name, dep.release);
        if (!release) throw new NotFoundError(`release v${dep.release} of ${fresh.name} is missing`);
        const target = planInstances({ ...fresh, processes }, dep.colour);
        const key = (i: InstanceRecord) => `${i.process}.${i.index}`;
        const have = new Set(dep.instances.map(key));
        const want = new Set(target.map(key));
        const adding = target.filter((i) => !have.has(key(i)));
        const removing = dep.instances.filter((i) => !want.has(key(i)));
        const envFile = colourEnvFile(fresh.name, dep.colour);
        const startedNow: InstanceRecord[] = [];
        try {
          await steps.run('start', async () => {
            for (const inst of adding) {
              await deps.supervisor.start(specFor({ ...fresh, processes }, release, dep.colour, inst, envFile));
              startedNow.push(inst);
            }
          }, `+${adding.length} instance(s)`);
          await steps.run('health', () =>
            Promise.all(
              adding.map((inst) =>
                inst.port !== null
                  ? waitHealthy(fresh, refOf(fresh.name, dep.colour, inst), inst.port)
                  : waitWorkerRunning(fresh, refOf(fresh.name, dep.colour, inst)),
              ),
            ),
          );
        } catch (e) {
          await stopInstances(fresh.name, dep.colour, startedNow);
          throw new DeployStepError('scale', `scaling ${fresh.name} failed: ${e instanceof Error ? e.message : String(e)}`, [], 'the previous instances are still serving');
        }
        const instances = [...dep.instances.filter((i) => want.has(key(i))), ...adding].sort(
          (a, b) => a.process.localeCompare(b.process) || a.index - b.index,
        );
        await steps.run('switch', async () => {
          fresh = store.updateApp(fresh.name, (a) => ({ ...a, processes, deployment: { ...dep, instances } }));
          await applyRoutes();
        });
        if (removing.length > 0) {
          await steps.run('drain', async () => {
            await sleep(timing.drainMs);
            await stopInstances(fresh.name, dep.colour, removing);
          }, `-${removing.length} instance(s)`);
        }
        await syncSlots(fresh);
        return fresh;
      });
    },

    /**
     * `ps:restart NAME [TYPE]`: one instance at a time. A web instance is replaced by a
     * surge instance (other colour's port) while it restarts, so even `web=1` keeps serving.
     */
    async restart(appName: string, processType: string | undefined, actor: Actor, opts: RolloutOptions = {}): Promise<number> {
      const app = requireApp(appName);
      if (processType !== undefined && !Object.hasOwn(app.processes, processType)) {
        throw new InvalidInputError(`${app.name} has no process type ${processType} (it has ${Object.keys(app.processes).join(', ')})`);
      }
      return withLock(app.name, actor, 'ps:restart', opts, async () => {
        const fresh = requireApp(app.name);
        const dep = fresh.deployment;
        if (!dep) throw new ConflictError(`${fresh.name} has nothing running to restart`, `deploy it first: deploy ${fresh.name} IMAGE`);
        const release = store.getRelease(fresh.name, dep.release);
        if (!release) throw new NotFoundError(`release v${dep.release} of ${fresh.name} is missing`);
        const steps = new Steps(fresh.name, dep.release, opts.onProgress);
        const envFile = colourEnvFile(fresh.name, dep.colour);
        const targets = dep.instances.filter((i) => processType === undefined || i.process === processType);
        for (const inst of targets) {
          const ref = refOf(fresh.name, dep.colour, inst);
          await steps.run('restart', async () => {
            if (inst.port === null || deps.router.kind === 'none') {
              await deps.supervisor.restart(ref);
              if (inst.port !== null) await waitHealthy(fresh, ref, inst.port);
              else await waitWorkerRunning(fresh, ref);
              return;
            }
            const surgeColour = otherColour(dep.colour);
            const surge: InstanceRecord = { process: inst.process, index: inst.index, port: instancePort(fresh.bind_port, surgeColour, inst.index) };
            const surgeRef = refOf(fresh.name, surgeColour, surge);
            await deps.supervisor.start(specFor(fresh, release, surgeColour, surge, envFile));
            try {
              await waitHealthy(fresh, surgeRef, surge.port as number);
              await applyRoutes({ app: fresh.name, upstreams: [...webPorts(dep.instances).filter((p) => p !== inst.port), surge.port as number] });
              await sleep(timing.drainMs);
              await deps.supervisor.restart(ref);
              await waitHealthy(fresh, ref, inst.port);
              await applyRoutes();
              await sleep(timing.drainMs);
            } finally {
              await deps.supervisor.stop(surgeRef).catch((err: unknown) => log.error({ err }, 'could not stop surge instance'));
            }
          }, `${inst.process}.${inst.index}`);
        }
        return targets.length;
      });
    },

    async ps(appName: string): Promise<InstanceView[]> {
      const app = requireApp(appName);
      const [states, stats] = await Promise.all([deps.supervisor.list(app.name), deps.supervisor.stats(app.name).catch(() => [] as InstanceStats[])]);
      return states
        .map((s) => ({
          ...s,
          live: app.deployment?.colour === s.colour,
          stats: stats.find((x) => x.name === s.name) ?? null,
        }))
        .sort((a, b) => a.process.localeCompare(b.process) || a.index - b.index || a.colour.localeCompare(b.colour));
    },

    async logs(appName: string, opts: { lines: number; process?: string }): Promise<LogLine[]> {
      const app = requireApp(appName);
      if (opts.process !== undefined && !Object.hasOwn(app.processes, opts.process)) {
        throw new InvalidInputError(`${app.name} has no process type ${opts.process} (it has ${Object.keys(app.processes).join(', ')})`);
      }
      const secrets = Object.values(await configValues(app.name, latestConfigVersion(app.name)).catch(() => ({})));
      const lines = await deps.supervisor.logs(app.name, opts);
      const redacted = redactSecrets(lines.map((l) => l.message), secrets);
      return lines.map((l, i) => ({ ...l, message: redacted[i] ?? '' }));
    },

    /** Stops every instance of the app, removes its route and its tunnel hostnames. */
    async teardown(app: AppSlot): Promise<void> {
      // An app that never had a release has never had a container: no need to ask the supervisor.
      const everRan = app.deployment !== null || store.listReleases(app.name, 1).length > 0;
      const states = everRan ? await deps.supervisor.list(app.name) : [];
      for (const s of states) await deps.supervisor.stop(s).catch((err: unknown) => log.error({ err, instance: s.name }, 'could not stop instance'));
      await deps.supervisor.syncSlots(app.name, []).catch((err: unknown) => log.error({ err, app: app.name }, 'could not free the instance slots'));
      if (deps.router.kind !== 'none') await deps.router.apply(routesFromSlots().filter((r) => r.app !== app.name));
      const routes = store
        .listApps()
        .filter((a) => a.name !== app.name)
        .flatMap((a) => a.domains.map((hostname) => ({ hostname, bindPort: a.bind_port })));
      await deps.edge.apply(routes);
    },

    /** After domains:add/remove: rewrite the tunnel ingress, route DNS for new names, mark them active. */
    async domainsChanged(app: AppSlot, added: string[]): Promise<void> {
      await applyEdge();
      for (const host of added) {
        try {
          const { recordId } = await deps.edge.routeDns(host);
          store.updateApp(app.name, (a) => {
            const current = a.domain_routes[host];
            if (!current) return a;
            return { ...a, domain_routes: { ...a.domain_routes, [host]: { ...current, status: 'active', cf_record_id: recordId } } };
          });
        } catch (e) {
          store.updateApp(app.name, (a) => {
            const current = a.domain_routes[host];
            if (!current) return a;
            return { ...a, domain_routes: { ...a.domain_routes, [host]: { ...current, status: 'failed' } } };
          });
          const retry = `${host} stays attached to ${app.name} as failed; run domains:add ${app.name} ${host} again to retry`;
          if (isPvdifyError(e)) throw new PvdifyError(e.code, e.message, e.hint ? `${e.hint}; ${retry}` : retry);
          throw e;
        }
      }
    },

    /**
     * After a crash: releases left `pending`/`deploying` are marked failed, instances that are
     * not the slot's live colour are stopped, and the router is re-applied from the slots.
     */
    async recover(): Promise<RecoveryReport> {
      const report: RecoveryReport = { interrupted: [], orphansStopped: [] };
      for (const app of store.listApps()) {
        let lock;
        try {
          lock = store.acquireAppLock(app.name, 'daemon', 'recovery');
        } catch {
          continue; // a live process is rolling it out right now
        }
        try {
          await recoverApp(app.name, report, true);
        } finally {
          lock.release();
        }
      }
      await applyRoutes();
      if (report.interrupted.length > 0 || report.orphansStopped.length > 0) log.warn(report, 'recovered from an interrupted rollout');
      return report;
    },

    /**
     * Image prune (seed: weekly, `until=168h`): removes unused images older than `until`, never
     * the images of each app's last `keep` releases (a rollback must not need the network).
     */
    async pruneImages(until = '168h', keep = 3): Promise<PruneResult & { kept: string[] }> {
      const kept = imagesToKeep(keep);
      const result = await deps.images.prune({ until, keep: kept });
      log.info({ removed: result.removed.length, reclaimedBytes: result.reclaimedBytes, kept: kept.length }, 'images pruned');
      return { ...result, kept };
    },

    imagesToKeep,
  };
}

export type RolloutEngine = ReturnType<typeof createRolloutEngine>;
