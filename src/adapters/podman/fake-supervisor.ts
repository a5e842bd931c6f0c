/**
 * In-memory Supervisor for tests of the rollout pipeline without Podman. It records every call,
 * keeps simulated instance state, applies the same name/spec/port checks as the real one, and can
 * serve HTTP on each web instance's host port: `/health` answers with the status set for the
 * instance's image, `/` with the image name, so health probes and routers see real sockets.
 */
import { createServer, type Server } from 'node:http';
import { ExternalToolError, NotFoundError } from '../../core/errors.ts';
import { systemClock, type Clock } from '../../core/ports/clock.ts';
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
import {
  assertInstanceRef,
  assertImageRef,
  assertInstanceSpec,
  assertPortFree,
  compareInstances,
  containerName,
  portConflictError,
} from './instance-spec.ts';
import { parseHumanBytes } from './podman-cli.ts';

export type FakeSupervisorCall =
  | { method: 'start'; spec: InstanceSpec }
  | { method: 'stop' | 'restart'; ref: InstanceRef }
  | { method: 'list'; app: string | undefined }
  | { method: 'stats'; app: string }
  | { method: 'logs'; app: string; lines: number; process: string | undefined }
  | { method: 'syncSlots'; app: string; keep: SlotRef[] };

export interface FakeSupervisorOptions {
  clock?: Clock;
  /** Listen on 127.0.0.1:<hostPort> for each started web instance (default false). */
  serveHttp?: boolean;
  /** `/health` status for images without `setHealth` (default 200). */
  defaultHealth?: number;
}

interface FakeInstance {
  spec: InstanceSpec;
  state: InstanceActiveState;
  since: string;
  restarts: number;
  server: Server | null;
}

interface StoredLine extends LogLine {
  seq: number;
}

export class FakeSupervisor implements Supervisor {
  readonly kind = 'podman' as const;
  readonly calls: FakeSupervisorCall[] = [];
  private readonly instances = new Map<string, FakeInstance>();
  private readonly lines: StoredLine[] = [];
  private readonly health = new Map<string, number>();
  private readonly startFailures = new Map<string, string>();
  private readonly clock: Clock;
  private readonly serveHttp: boolean;
  private readonly defaultHealth: number;
  private seq = 0;

  constructor(opts: FakeSupervisorOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.serveHttp = opts.serveHttp ?? false;
    this.defaultHealth = opts.defaultHealth ?? 200;
  }

  /** Status `/health` answers for instances of `image` (also changes running ones). */
  setHealth(image: string, status: number): void {
    this.health.set(image, status);
  }

  /** Makes `start` of any instance of `image` fail like a container that cannot start. */
  failStart(image: string, reason = 'container exited immediately'): void {
    this.startFailures.set(image, reason);
  }

  clearFailures(): void {
    this.startFailures.clear();
  }

  /** Simulates the instance's process dying: state `failed`, its port closes. */
  async crash(ref: InstanceRef, message = 'process exited with code 1'): Promise<void> {
    const inst = this.instances.get(containerName(ref));
    if (!inst) throw new NotFoundError(`no container ${containerName(ref)}`);
    await closeServer(inst.server);
    inst.server = null;
    inst.state = 'failed';
    inst.since = this.clock.now().toISOString();
    this.emit(containerName(ref), message);
  }

  /** Appends a line to an instance's log, as if the app printed it. */
  print(ref: InstanceRef, message: string): void {
    this.emit(containerName(ref), message);
  }

  /** The spec an instance was last started with. */
  specOf(ref: InstanceRef): InstanceSpec | undefined {
    return this.instances.get(containerName(ref))?.spec;
  }

  /** Images of all known instances (for `FakeImages`' `inUse`). */
  imagesInUse(): string[] {
    return [...new Set([...this.instances.values()].map((i) => i.spec.image))];
  }

  /** Closes every HTTP server; call in test teardown. */
  async close(): Promise<void> {
    await Promise.all([...this.instances.values()].map((i) => closeServer(i.server)));
    for (const i of this.instances.values()) i.server = null;
  }

  async start(spec: InstanceSpec): Promise<void> {
    this.calls.push({ method: 'start', spec: { ...spec } });
    assertInstanceSpec(spec);
    assertImageRef(spec.image);
    const name = containerName(spec);
    const previous = this.instances.get(name);
    if (spec.hostPort !== null) {
      const port = spec.hostPort;
      const heldByOther = [...this.instances.entries()].some(
        ([n, i]) => n !== name && i.spec.hostPort === port && (i.state === 'running' || i.state === 'starting'),
      );
      if (heldByOther) throw portConflictError(port);
      // The instance's own previous server holds the port until it is replaced just below.
      const ownsPort = previous?.server != null && previous.spec.hostPort === port;
      if (!ownsPort) await assertPortFree(port);
    }
    const failure = this.startFailures.get(spec.image);
    if (failure !== undefined) throw new ExternalToolError('podman', `could not start ${name}: ${failure}`);

    // --replace: the old container goes first.
    if (previous) await closeServer(previous.server);
    const inst: FakeInstance = {
      spec: { ...spec, command: spec.command ? [...spec.command] : null },
      state: 'running',
      since: this.clock.now().toISOString(),
      restarts: 0,
      server: null,
    };
    this.instances.set(name, inst);
    if (this.serveHttp && spec.hostPort !== null) inst.server = await this.listen(name, inst, spec.hostPort);
    this.emit(name, `starting ${spec.image} (release ${spec.release})`);
  }

  /** Nothing is kept between releases here: the call is only recorded. */
  async syncSlots(app: string, keep: SlotRef[]): Promise<void> {
    this.calls.push({ method: 'syncSlots', app, keep: keep.map((k) => ({ ...k })) });
  }

  async stop(ref: InstanceRef): Promise<void> {
    this.calls.push({ method: 'stop', ref: { ...ref } });
    assertInstanceRef(ref);
    const name = containerName(ref);
    const inst = this.instances.get(name);
    if (!inst) return;
    await closeServer(inst.server);
    this.instances.delete(name);
  }

  async restart(ref: InstanceRef): Promise<void> {
    this.calls.push({ method: 'restart', ref: { ...ref } });
    assertInstanceRef(ref);
    const name = containerName(ref);
    const inst = this.instances.get(name);
    if (!inst) throw new NotFoundError(`no container ${name}`);
    await closeServer(inst.server);
    inst.server = null;
    if (this.serveHttp && inst.spec.hostPort !== null) inst.server = await this.listen(name, inst, inst.spec.hostPort);
    inst.state = 'running';
    inst.since = this.clock.now().toISOString();
    this.emit(name, `restarting ${inst.spec.image}`);
  }

  async list(app?: string): Promise<InstanceState[]> {
    this.calls.push({ method: 'list', app });
    return [...this.instances.entries()]
      .filter(([, i]) => app === undefined || i.spec.app === app)
      .map(([name, i]) => ({
        app: i.spec.app,
        process: i.spec.process,
        colour: i.spec.colour,
        index: i.spec.index,
        state: i.state,
        name,
        hostPort: i.spec.hostPort,
        release: i.spec.release,
        image: i.spec.image,
        since: i.since,
        restarts: i.restarts,
      }))
      .sort(compareInstances);
  }

  async stats(app: string): Promise<InstanceStats[]> {
    this.calls.push({ method: 'stats', app });
    return [...this.instances.entries()]
      .filter(([, i]) => i.spec.app === app && i.state === 'running')
      .map(([name, i]) => ({
        name,
        cpuPercent: 0.5,
        memoryBytes: 5_000_000,
        memoryLimitBytes: i.spec.memory ? parseHumanBytes(`${i.spec.memory}iB`) : null,
      }));
  }

  async logs(app: string, opts: { lines: number; process?: string; ref?: InstanceRef }): Promise<LogLine[]> {
    this.calls.push({ method: 'logs', app, lines: opts.lines, process: opts.process });
    const names = new Set(
      [...this.instances.entries()]
        .filter(([, i]) => i.spec.app === app && (opts.process === undefined || i.spec.process === opts.process))
        .filter(([n]) => !opts.ref || n === containerName(opts.ref))
        .map(([n]) => n),
    );
    const n = Math.max(0, Math.floor(opts.lines));
    if (n === 0) return [];
    return this.lines
      .filter((l) => names.has(l.source))
      .sort((a, b) => (a.time ?? '').localeCompare(b.time ?? '') || a.seq - b.seq)
      .slice(-n)
      .map(({ time, source, message }) => ({ time, source, message }));
  }

  private emit(source: string, message: string): void {
    this.lines.push({ time: this.clock.now().toISOString(), source, message, seq: this.seq++ });
  }

  private listen(name: string, inst: FakeInstance, port: number): Promise<Server> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      let status = 404;
      let body = 'not found\n';
      if (path === '/health') {
        status = this.health.get(inst.spec.image) ?? this.defaultHealth;
        body = status < 400 ? 'ok\n' : 'unhealthy\n';
      } else if (path === '/') {
        status = 200;
        body = `${inst.spec.image}\n`;
      }
      res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
      res.end(body);
      this.emit(name, `${req.method ?? 'GET'} ${path ?? '/'} ${status}`);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }
}

function closeServer(server: Server | null): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
