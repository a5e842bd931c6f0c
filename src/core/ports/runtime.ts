/**
 * Runtime ports: what the rollout engine needs from Podman, systemd, Caddy, cloudflared and an
 * HTTP probe. Each has a real implementation in src/adapters/<tool>/ and a fake next to it;
 * one contract suite in test/adapters/ runs against both.
 */
import type { Colour } from '../model.ts';

/** Identifies one container instance: unit `pvdify-<app>-<process>@<colour>-<index>.service`. */
export interface InstanceRef {
  app: string;
  process: string;
  colour: Colour;
  index: number;
}

/** Everything needed to start one instance. Commands are argv arrays: never a shell string. */
export interface InstanceSpec extends InstanceRef {
  image: string;
  /** argv replacing the image's CMD, or null for the image default. */
  command: string[] | null;
  /** Host port on 127.0.0.1 published to the container's port 3000, or null (workers). */
  hostPort: number | null;
  /** Absolute path of the Podman env file (mode 0600). */
  envFile: string;
  memory: string | null;
  cpu: number | null;
  /** Release number, recorded as a label. */
  release: number;
}

export type InstanceActiveState = 'starting' | 'running' | 'stopping' | 'stopped' | 'failed' | 'unknown';

export interface InstanceState extends InstanceRef {
  state: InstanceActiveState;
  /** Unit or container name. */
  name: string;
  hostPort: number | null;
  release: number | null;
  image: string | null;
  /** When it entered its current state, ISO. */
  since: string | null;
  restarts: number;
}

export interface InstanceStats {
  name: string;
  cpuPercent: number | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
}

export interface LogLine {
  time: string | null;
  /** Unit or container the line came from. */
  source: string;
  message: string;
}

/** Runs instances and reports on them. `systemd` (units running `podman run`) or `podman` (restart policy). */
export interface Supervisor {
  readonly kind: 'systemd' | 'podman';
  /** Starts (or replaces) the instance; resolves once the container is running, not once healthy. */
  start(spec: InstanceSpec): Promise<void>;
  /** Stops and removes the instance (container and, for systemd, the unit). Idempotent. */
  stop(ref: InstanceRef): Promise<void>;
  restart(ref: InstanceRef): Promise<void>;
  /** Instances known for the app (all apps when omitted), running or not. */
  list(app?: string): Promise<InstanceState[]>;
  stats(app: string): Promise<InstanceStats[]>;
  /** Newest `lines` lines of the app's instances (optionally one process type), oldest first. */
  logs(app: string, opts: { lines: number; process?: string; ref?: InstanceRef }): Promise<LogLine[]>;
  /**
   * Makes what the supervisor keeps per instance slot between releases (the podman supervisor's
   * network pods, which hold each web slot's host port) match `keep`: missing ones are set up
   * now, so a deploy does not pay for them, and the app's others are freed; an empty `keep`
   * frees them all (the app is being deleted). A slot's port held by someone else is refused.
   */
  syncSlots(app: string, keep: SlotRef[]): Promise<void>;
}

/** An instance slot of an app: where one instance of a colour runs, whatever its release. */
export interface SlotRef {
  process: string;
  colour: Colour;
  index: number;
  hostPort: number | null;
}

export interface ImageInfo {
  id: string;
  names: string[];
  created: string | null;
  sizeBytes: number;
}

export interface PruneResult {
  removed: string[];
  reclaimedBytes: number;
}

export interface RegistryAuth {
  username: string;
  password: string;
}

/** Image operations (Podman). */
export interface ImageRuntime {
  /** Pulls unless present (`always` forces a pull). Throws ExternalToolError naming the image on failure. */
  pull(image: string, opts?: { auth?: RegistryAuth | null; always?: boolean }): Promise<void>;
  exists(image: string): Promise<boolean>;
  list(): Promise<ImageInfo[]>;
  /** Removes unused images older than `until`, never those in `keep`. */
  prune(opts: { until: string; keep: string[] }): Promise<PruneResult>;
}

/** One app as the router serves it. */
export interface RouteSpec {
  app: string;
  /** The stable port the router listens on for this app (127.0.0.1). */
  bindPort: number;
  /** Instance ports of the live colour's web processes. */
  upstreams: number[];
  healthPath: string;
}

/** The HTTP router (Caddy): the whole config is generated from the app slots and applied atomically. */
export interface Router {
  readonly kind: 'caddy' | 'none';
  /** Replaces the whole routing table; resolves once the new upstreams take traffic. */
  apply(routes: RouteSpec[]): Promise<void>;
  /** Current upstreams per app as the running router reports them. */
  current(): Promise<RouteSpec[]>;
}

export interface EdgeRoute {
  hostname: string;
  bindPort: number;
}

/** The public edge (cloudflared tunnel ingress). */
export interface Edge {
  /** Writes and validates the ingress config; restarts the tunnel only if the hostname set changed. */
  apply(routes: EdgeRoute[]): Promise<{ changed: boolean; restarted: boolean }>;
  /** `cloudflared tunnel route dns`: returns a record id when the tool reports one. */
  routeDns(hostname: string): Promise<{ recordId: string | null }>;
}

export interface ProbeResult {
  ok: boolean;
  status: number | null;
  attempts: number;
  error: string | null;
}

/** HTTP health probe against 127.0.0.1. */
export interface HealthProbe {
  check(port: number, path: string, timeoutMs: number): Promise<ProbeResult>;
  /** Retries until healthy, or until `retries` consecutive failures after `startPeriodMs`. */
  waitHealthy(
    port: number,
    path: string,
    opts: { timeoutMs: number; intervalMs: number; retries: number; deadlineMs: number; signal?: AbortSignal },
  ): Promise<ProbeResult>;
}

/** Pre-change snapshots (seed: state dir, units, tunnel config) taken before every rollout. */
export interface Snapshotter {
  /** Returns the archive path. */
  create(reason: string): Promise<string>;
}
