/**
 * The `podman` supervisor: each instance is a container started with `--restart=always` and
 * found again through its `pvdify.*` labels. It serves hosts without systemd and the test suite;
 * the rollout pipeline above it is the same as with the `systemd` supervisor.
 */
import { ConflictError, ExternalToolError, NotFoundError } from '../../core/errors.ts';
import { Colour } from '../../core/model.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import type {
  InstanceActiveState,
  InstanceRef,
  InstanceSpec,
  InstanceState,
  InstanceStats,
  LogLine,
  SlotRef,
  Supervisor,
} from '../../core/ports/runtime.ts';
import { apiOrCli, type PodmanApi } from './podman-api.ts';
import type { PodmanCli, PodmanContainer, PodmanContainerInspect, PodmanRunOptions } from './podman-cli.ts';
import {
  CONTAINER_PORT,
  LABEL_APP,
  LABEL_COLOUR,
  LABEL_INDEX,
  LABEL_PROCESS,
  LABEL_NETWORK_POD,
  LABEL_RELEASE,
  assertInstanceRef,
  assertImageRef,
  assertInstanceSpec,
  compareInstances,
  containerName,
  instanceLabels,
  isPortFree,
  networkPodName,
  portConflictError,
} from './instance-spec.ts';

export interface PodmanSupervisorOptions {
  cli: PodmanCli;
  /**
   * Podman's REST API (`podman system service`, run by pvdifyd): containers are started through
   * it when it answers (no CLI start-up per call), through the CLI otherwise.
   */
  api?: PodmanApi | null;
  log?: Logger;
  /** Seconds `podman stop` waits before SIGKILL (default 10). */
  stopTimeoutSec?: number;
  /** Per-container log size cap passed as `--log-opt max-size` (default `10mb`; null for none). */
  logMaxSize?: string | null;
  /**
   * Web instances join a per-slot network pod that keeps their host port between releases
   * (default true). Off for router `none`: there both colours would publish `bind_port`, and a
   * pod outliving its instance would keep the port from the next one.
   */
  networkPods?: boolean;
}

const MAX_LOG_LINES = 10_000;

export class PodmanSupervisor implements Supervisor {
  readonly kind = 'podman' as const;
  private readonly cli: PodmanCli;
  private readonly api: PodmanApi | null;
  private readonly log: Logger;
  private readonly stopTimeoutSec: number;
  private readonly logMaxSize: string | null;
  private readonly networkPods: boolean;

  constructor(opts: PodmanSupervisorOptions) {
    this.cli = opts.cli;
    this.api = opts.api ?? null;
    this.log = (opts.log ?? silentLogger).child({ component: 'podman-supervisor' });
    this.stopTimeoutSec = opts.stopTimeoutSec ?? 10;
    this.logMaxSize = opts.logMaxSize === undefined ? '10mb' : opts.logMaxSize;
    this.networkPods = opts.networkPods ?? true;
  }

  async start(spec: InstanceSpec): Promise<void> {
    assertInstanceSpec(spec);
    assertImageRef(spec.image);
    const name = containerName(spec);
    const run: PodmanRunOptions = {
      name,
      image: spec.image,
      labels: instanceLabels(spec),
      envFile: spec.envFile,
      publicEnv: { PORT: String(CONTAINER_PORT) },
      memory: spec.memory,
      cpus: spec.cpu,
      restart: 'always',
      replace: true,
      logMaxSize: this.logMaxSize,
      command: spec.command,
    };
    try {
      if (spec.hostPort === null) {
        await this.run(run);
      } else if (this.networkPods) {
        await this.runInNetworkPod(spec, spec.hostPort, run);
      } else {
        await this.assertHostPortAvailable(name, spec.hostPort);
        await this.run({ ...run, publish: loopbackPort(spec.hostPort) });
      }
    } catch (e) {
      // Lost a race for the port between our check and podman's bind.
      if (e instanceof ExternalToolError && /address already in use/i.test(e.message) && spec.hostPort !== null) {
        throw portConflictError(spec.hostPort);
      }
      throw e;
    }
    this.log.info({ name, image: spec.image, release: spec.release, hostPort: spec.hostPort }, 'instance started');
  }

  /**
   * A web instance joins its slot's network pod, whose infra container holds the network
   * namespace and the published host port from one release to the next: the network is set up
   * once per slot (~70 ms of `podman run` here), not once per deploy. `syncSlots` creates the
   * pods ahead (apps:create, scaling); a slot without one gets it here.
   */
  private async runInNetworkPod(spec: InstanceSpec, hostPort: number, run: PodmanRunOptions): Promise<void> {
    const pod = networkPodName(spec, hostPort);
    try {
      await this.run({ ...run, pod });
      return;
    } catch (e) {
      if (!(e instanceof ExternalToolError && /no such pod/i.test(e.message))) throw e;
    }
    try {
      await this.createNetworkPod(spec, hostPort);
    } catch (e) {
      if (e instanceof ConflictError) throw e;
      // Pods are a speed-up, not a requirement: without one the instance publishes its port
      // itself, as under router `none`.
      this.log.warn({ err: e instanceof Error ? e.message : String(e), pod }, 'could not set up the network pod: the instance publishes its port itself');
      await this.run({ ...run, publish: loopbackPort(hostPort) });
      return;
    }
    await this.run({ ...run, pod });
  }

  /** `podman run -d` through the API when its service answers, else through the CLI. */
  private async run(o: PodmanRunOptions): Promise<void> {
    await apiOrCli(
      this.api,
      (api) => api.run(o),
      () => this.cli.run(o),
    );
  }

  /** Creates and starts a slot's network pod, after checking that nobody else has the port. */
  private async createNetworkPod(ref: InstanceRef, hostPort: number): Promise<void> {
    const pod = networkPodName(ref, hostPort);
    await this.assertHostPortAvailable(containerName(ref), hostPort);
    await this.cli.podCreate({
      name: pod,
      infraName: `${pod}-infra`,
      labels: { [LABEL_APP]: ref.app, [LABEL_NETWORK_POD]: 'true' },
      publish: loopbackPort(hostPort),
    });
    try {
      // Started now, so the network is set up before a deploy needs it (and the port is held).
      await this.cli.podStart(pod);
    } catch (e) {
      await this.cli.podRm([pod]).catch(() => {});
      throw e;
    }
    this.log.info({ pod, hostPort }, 'network pod created');
  }

  async syncSlots(app: string, keep: SlotRef[]): Promise<void> {
    if (!this.networkPods) return;
    const wanted = new Map<string, { ref: InstanceRef; hostPort: number }>();
    for (const k of keep) {
      if (k.hostPort === null) continue;
      const ref = { app, process: k.process, colour: k.colour, index: k.index };
      assertInstanceRef(ref);
      wanted.set(networkPodName(ref, k.hostPort), { ref, hostPort: k.hostPort });
    }
    const have = new Set((await this.cli.pods({ labels: [`${LABEL_APP}=${app}`, LABEL_NETWORK_POD] })).map((p) => p.name));
    const gone = [...have].filter((n) => !wanted.has(n));
    if (gone.length > 0) {
      await this.cli.podRm(gone);
      this.log.info({ app, pods: gone }, 'network pods removed');
    }
    for (const [name, { ref, hostPort }] of wanted) {
      if (!have.has(name)) await this.createNetworkPod(ref, hostPort);
    }
  }

  async stop(ref: InstanceRef): Promise<void> {
    assertInstanceRef(ref);
    const name = containerName(ref);
    await this.cli.stop(name, this.stopTimeoutSec);
    await this.cli.rm(name);
    this.log.info({ name }, 'instance stopped');
  }

  async restart(ref: InstanceRef): Promise<void> {
    assertInstanceRef(ref);
    const name = containerName(ref);
    await this.cli.restart(name, this.stopTimeoutSec);
    this.log.info({ name }, 'instance restarted');
  }

  async list(app?: string): Promise<InstanceState[]> {
    const rows = await this.containers(app);
    let details: PodmanContainerInspect[] = [];
    try {
      details = await this.cli.inspectContainers(rows.map((r) => r.id));
    } catch (e) {
      // Restart counts are a nicety; the list itself is still right without them.
      this.log.warn({ err: String(e) }, 'could not inspect containers for restart counts');
    }
    const byId = new Map(details.map((d) => [d.id, d]));
    return rows
      .flatMap((row) => {
        const ref = refFromLabels(row.labels);
        if (!ref) return [];
        const d = byId.get(row.id);
        const state = mapState(row, d);
        const port = row.ports.find((p) => p.containerPort === CONTAINER_PORT);
        const since = state === 'running' ? (d?.startedAt ?? row.startedAt) : state === 'starting' ? row.createdAt : (d?.finishedAt ?? row.exitedAt);
        const release = Number.parseInt(row.labels[LABEL_RELEASE] ?? '', 10);
        return [
          {
            ...ref,
            state,
            name: row.name,
            hostPort: port?.hostPort ?? null,
            release: Number.isInteger(release) && release > 0 ? release : null,
            image: row.image,
            since: since?.toISOString() ?? null,
            restarts: d?.restartCount ?? 0,
          } satisfies InstanceState,
        ];
      })
      .sort(compareInstances);
  }

  async stats(app: string): Promise<InstanceStats[]> {
    const running = (await this.containers(app)).filter((c) => c.state === 'running').map((c) => c.name);
    try {
      return await this.cli.stats(running);
    } catch {
      // One container stopped between listing and stats: ask one by one, report the rest.
      return Promise.all(
        running.map(async (name) => {
          const [s] = await this.cli.stats([name]).catch(() => []);
          return s ?? { name, cpuPercent: null, memoryBytes: null, memoryLimitBytes: null };
        }),
      );
    }
  }

  async logs(app: string, opts: { lines: number; process?: string; ref?: InstanceRef }): Promise<LogLine[]> {
    const lines = Math.min(Math.max(0, Math.floor(opts.lines)), MAX_LOG_LINES);
    if (lines === 0) return [];
    let rows = await this.containers(app);
    if (opts.process !== undefined) rows = rows.filter((r) => r.labels[LABEL_PROCESS] === opts.process);
    if (opts.ref) {
      const wanted = containerName(opts.ref);
      rows = rows.filter((r) => r.name === wanted);
    }
    const perContainer = await Promise.all(
      rows.map(async (row) => {
        try {
          const got = await this.cli.logs(row.name, lines);
          // A line without a timestamp stays right after the line before it.
          let last = '';
          return got.map((l) => {
            if (l.sortKey) last = l.sortKey;
            return { key: l.sortKey || last, line: { time: l.time, source: row.name, message: l.message } };
          });
        } catch (e) {
          if (e instanceof NotFoundError) return [];
          throw e;
        }
      }),
    );
    const merged = perContainer.flat();
    // Array.prototype.sort is stable, so equal keys keep each container's own order.
    merged.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return merged.slice(-lines).map((m) => m.line);
  }

  /** The app's instance containers (not the infra containers of their network pods). */
  private async containers(app?: string): Promise<PodmanContainer[]> {
    const rows = await this.cli.ps({ labels: [app === undefined ? LABEL_APP : `${LABEL_APP}=${app}`] });
    return rows.filter((r) => !r.isInfra);
  }

  /**
   * Refuses a port someone else listens on. The instance's own previous container may hold it:
   * `--replace` frees it, so that is not a conflict.
   */
  private async assertHostPortAvailable(name: string, port: number): Promise<void> {
    if (await isPortFree(port)) return;
    // The instance's own container may hold it: it is being replaced (`--replace`), so remove
    // it now, as the pod or the new container needs the port before that happens.
    const own = await this.cli.ps({ names: [name] });
    if (own.some((c) => !c.isInfra && c.ports.some((p) => p.hostPort === port))) {
      await this.cli.rm(name);
      if (await isPortFree(port)) return;
    }
    throw portConflictError(port);
  }
}


/** Publishing `hostPort` to the app's port, on loopback only (the router is the only client). */
function loopbackPort(hostPort: number): PodmanRunOptions['publish'] {
  return [{ hostIp: '127.0.0.1', hostPort, containerPort: CONTAINER_PORT }];
}

function refFromLabels(labels: Record<string, string>): InstanceRef | null {
  const app = labels[LABEL_APP];
  const process = labels[LABEL_PROCESS];
  const colour = Colour.safeParse(labels[LABEL_COLOUR]);
  const index = Number.parseInt(labels[LABEL_INDEX] ?? '', 10);
  if (!app || !process || !colour.success || !Number.isInteger(index)) return null;
  return { app, process, colour: colour.data, index };
}

/** Podman's state words, folded into the port's. A stop by SIGTERM/SIGKILL is a stop, not a failure. */
function mapState(row: PodmanContainer, d: PodmanContainerInspect | undefined): InstanceActiveState {
  const state = d?.status ?? row.state;
  switch (state) {
    case 'running':
      return 'running';
    case 'created':
    case 'configured':
    case 'initialized':
      return 'starting';
    case 'stopping':
    case 'removing':
      return 'stopping';
    case 'paused':
      return 'stopped';
    case 'exited':
    case 'stopped': {
      const code = d?.exitCode ?? row.exitCode;
      if (d?.oomKilled) return 'failed';
      return code === null || code === 0 || code === 143 || code === 137 ? 'stopped' : 'failed';
    }
    case 'dead':
      return 'failed';
    default:
      return 'unknown';
  }
}
