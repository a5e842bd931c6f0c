/**
 * The `podman` supervisor: each instance is a container started with `--restart=always` and
 * found again through its `pvdify.*` labels. It serves hosts without systemd and the test suite;
 * the rollout pipeline above it is the same as with the `systemd` supervisor.
 */
import { ExternalToolError, NotFoundError } from '../../core/errors.ts';
import { Colour } from '../../core/model.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import type {
  InstanceActiveState,
  InstanceRef,
  InstanceSpec,
  InstanceState,
  InstanceStats,
  LogLine,
  Supervisor,
} from '../../core/ports/runtime.ts';
import type { PodmanCli, PodmanContainer, PodmanContainerInspect } from './podman-cli.ts';
import {
  CONTAINER_PORT,
  LABEL_APP,
  LABEL_COLOUR,
  LABEL_INDEX,
  LABEL_PROCESS,
  LABEL_RELEASE,
  assertInstanceRef,
  assertImageRef,
  assertInstanceSpec,
  compareInstances,
  containerName,
  instanceLabels,
  isPortFree,
  portConflictError,
} from './instance-spec.ts';

export interface PodmanSupervisorOptions {
  cli: PodmanCli;
  log?: Logger;
  /** Seconds `podman stop` waits before SIGKILL (default 10). */
  stopTimeoutSec?: number;
  /** Per-container log size cap passed as `--log-opt max-size` (default `10mb`; null for none). */
  logMaxSize?: string | null;
}

const MAX_LOG_LINES = 10_000;

export class PodmanSupervisor implements Supervisor {
  readonly kind = 'podman' as const;
  private readonly cli: PodmanCli;
  private readonly log: Logger;
  private readonly stopTimeoutSec: number;
  private readonly logMaxSize: string | null;

  constructor(opts: PodmanSupervisorOptions) {
    this.cli = opts.cli;
    this.log = (opts.log ?? silentLogger).child({ component: 'podman-supervisor' });
    this.stopTimeoutSec = opts.stopTimeoutSec ?? 10;
    this.logMaxSize = opts.logMaxSize === undefined ? '10mb' : opts.logMaxSize;
  }

  async start(spec: InstanceSpec): Promise<void> {
    assertInstanceSpec(spec);
    assertImageRef(spec.image);
    const name = containerName(spec);
    if (spec.hostPort !== null) await this.assertHostPortAvailable(name, spec.hostPort);
    try {
      await this.cli.run({
        name,
        image: spec.image,
        labels: instanceLabels(spec),
        publish: spec.hostPort === null ? [] : [{ hostIp: '127.0.0.1', hostPort: spec.hostPort, containerPort: CONTAINER_PORT }],
        envFile: spec.envFile,
        publicEnv: { PORT: String(CONTAINER_PORT) },
        memory: spec.memory,
        cpus: spec.cpu,
        restart: 'always',
        replace: true,
        logMaxSize: this.logMaxSize,
        command: spec.command,
      });
    } catch (e) {
      // Lost a race for the port between our check and podman's bind.
      if (e instanceof ExternalToolError && /address already in use/i.test(e.message) && spec.hostPort !== null) {
        throw portConflictError(spec.hostPort);
      }
      throw e;
    }
    this.log.info({ name, image: spec.image, release: spec.release, hostPort: spec.hostPort }, 'instance started');
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

  private containers(app?: string): Promise<PodmanContainer[]> {
    return this.cli.ps({ labels: [app === undefined ? LABEL_APP : `${LABEL_APP}=${app}`] });
  }

  /**
   * Refuses a port someone else listens on. The instance's own previous container may hold it:
   * `--replace` frees it, so that is not a conflict.
   */
  private async assertHostPortAvailable(name: string, port: number): Promise<void> {
    if (await isPortFree(port)) return;
    const own = await this.cli.ps({ names: [name] });
    if (own.some((c) => c.ports.some((p) => p.hostPort === port))) return;
    throw portConflictError(port);
  }
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
