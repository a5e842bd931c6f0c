/**
 * Composition root: the only place that reads the environment and picks real adapters.
 * Everything below it receives its dependencies (STYLE.md: factories with real defaults only at
 * the top).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import pino from 'pino';
import { InvalidInputError } from './core/errors.ts';
import type { AuditEventInput } from './core/model.ts';
import { systemClock, type Clock, type Logger } from './core/ports/clock.ts';
import type { ConfigVault } from './core/ports/secrets.ts';
import type { StateStore } from './core/ports/store.ts';
import { createServices } from './core/services/create-services.ts';
import type { Services } from './core/services/types.ts';
import { createAgeVault, describeConfigVersion } from './store/sops/age-vault.ts';
import { identityToRecipient, readIdentityFile } from './store/sops/age-keys.ts';
import { openStateStore } from './store/state-store.ts';
import { renderEnvFile } from './store/sops/env-file.ts';
import { createRolloutEngine, type RolloutEngine } from './core/deploy/rollout-engine.ts';
import type { Edge, HealthProbe, ImageRuntime, RegistryAuth, Router, Snapshotter, Supervisor } from './core/ports/runtime.ts';
import { PodmanCli } from './adapters/podman/podman-cli.ts';
import { PodmanSupervisor } from './adapters/podman/podman-supervisor.ts';
import { PodmanImages } from './adapters/podman/podman-images.ts';
import { PodmanApi } from './adapters/podman/podman-api.ts';
import { createSystemctl, type Systemctl } from './adapters/systemd/systemctl.ts';
import { createSystemdSupervisor } from './adapters/systemd/systemd-supervisor.ts';
import { ROUTER_UNIT_NAMES } from './adapters/systemd/unit-file.ts';
import { createJournal } from './adapters/journald/journal.ts';
import { createCaddyRouter } from './adapters/caddy/caddy-router.ts';
import { routerStatus, startRouterDetached } from './adapters/caddy/caddy-process.ts';
import { createCloudflaredEdge } from './adapters/cloudflared/cloudflared-edge.ts';
import { createHttpProbe } from './adapters/http-probe/http-probe.ts';
import { createTarSnapshotter } from './adapters/snapshots/tar-snapshots.ts';
import { listeningTcpPorts } from './adapters/host/listening-ports.ts';

export interface RuntimeOptions {
  stateDir: string;
  ageKeyFile: string;
  /** Extra age recipients (besides the key file's own) every config version is encrypted to. */
  extraRecipients: string[];
  logLevel: string;
  /** Where logs go: `stdout`, `stderr`, a file path, or `silent`. */
  logDestination: string;
  runtime: RuntimeAdapterOptions;
}

/** How containers are run and reached (DESIGN.md §3). */
export interface RuntimeAdapterOptions {
  /** `systemd` where PID 1 is systemd, `podman` elsewhere. */
  supervisor: 'systemd' | 'podman';
  /** `caddy` (blue-green, any web count) or `none` (bind_port published directly, web=1). */
  router: 'caddy' | 'none';
  podmanPath: string;
  caddyPath: string;
  /** Caddy's admin API: `unix//path.sock` or `127.0.0.1:PORT`, never public. */
  caddyAdmin: string;
  systemctlPath: string;
  journalctlPath: string;
  unitDir: string;
  cloudflaredPath: string;
  tunnel: string;
  tunnelCredentials: string;
  snapshotDir: string;
  snapshotKeep: number;
  healthDeadlineMs: number;
  drainMs: number;
  registryAuth: { host: string | null; username: string; password: string } | null;
}

const DEFAULT_STATE_DIR = '/var/lib/pvdify';
const DEFAULT_AGE_KEY_FILE = '/etc/pvdify/age.key';

/** Reads `PVDIFY_*` variables; everything has an embedded default. */
export function readEnvOptions(env: NodeJS.ProcessEnv = process.env, role: 'cli' | 'daemon' = 'cli'): RuntimeOptions {
  const stateDir = env.PVDIFY_STATE_DIR || DEFAULT_STATE_DIR;
  return {
    stateDir,
    ageKeyFile: env.PVDIFY_AGE_KEY_FILE || DEFAULT_AGE_KEY_FILE,
    extraRecipients: (env.PVDIFY_AGE_RECIPIENTS ?? '')
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean),
    logLevel: env.PVDIFY_LOG_LEVEL || 'info',
    // The daemon logs to stdout (journald picks it up); the CLI keeps the terminal for replies
    // and writes its log next to the state.
    logDestination: env.PVDIFY_LOG || (role === 'daemon' ? 'stdout' : join(stateDir, 'logs', 'cli.log')),
    runtime: readRuntimeOptions(env, stateDir),
  };
}

function positiveInt(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidInputError(`${name}=${JSON.stringify(value)} is not a whole number`);
  return n;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], fallback: T, name: string): T {
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new InvalidInputError(`${name}=${JSON.stringify(value)}: use one of ${allowed.join(', ')}`);
  return value as T;
}

export function readRuntimeOptions(env: NodeJS.ProcessEnv, stateDir: string): RuntimeAdapterOptions {
  const systemdIsInit = existsSync('/run/systemd/system');
  const user = env.PVDIFY_REGISTRY_USERNAME;
  const password = env.PVDIFY_REGISTRY_PASSWORD;
  return {
    supervisor: oneOf(env.PVDIFY_SUPERVISOR, ['systemd', 'podman'] as const, systemdIsInit ? 'systemd' : 'podman', 'PVDIFY_SUPERVISOR'),
    router: oneOf(env.PVDIFY_ROUTER, ['caddy', 'none'] as const, 'caddy', 'PVDIFY_ROUTER'),
    podmanPath: env.PVDIFY_PODMAN || '/usr/bin/podman',
    caddyPath: env.PVDIFY_CADDY || '/usr/bin/caddy',
    caddyAdmin: env.PVDIFY_CADDY_ADMIN || `unix/${join(stateDir, 'router', 'admin.sock')}`,
    systemctlPath: env.PVDIFY_SYSTEMCTL || 'systemctl',
    journalctlPath: env.PVDIFY_JOURNALCTL || 'journalctl',
    unitDir: env.PVDIFY_UNIT_DIR || '/etc/systemd/system',
    cloudflaredPath: env.PVDIFY_CLOUDFLARED || '/usr/local/bin/cloudflared',
    tunnel: env.PVDIFY_TUNNEL || 'pvdify-apps',
    tunnelCredentials: env.PVDIFY_TUNNEL_CREDENTIALS || '/etc/cloudflared/pvdify-apps.json',
    snapshotDir: env.PVDIFY_SNAPSHOT_DIR || join(dirname(stateDir), `${basename(stateDir)}-snapshots`),
    snapshotKeep: positiveInt(env.PVDIFY_SNAPSHOT_KEEP, 20, 'PVDIFY_SNAPSHOT_KEEP'),
    healthDeadlineMs: positiveInt(env.PVDIFY_HEALTH_DEADLINE_SECONDS, 60, 'PVDIFY_HEALTH_DEADLINE_SECONDS') * 1000,
    drainMs: positiveInt(env.PVDIFY_DRAIN_MS, 1500, 'PVDIFY_DRAIN_MS'),
    registryAuth: user && password ? { host: env.PVDIFY_REGISTRY_HOST || null, username: user, password } : null,
  };
}

export function createRootLogger(opts: Pick<RuntimeOptions, 'logLevel' | 'logDestination'>, name: string): Logger {
  const base = { name, level: opts.logLevel };
  switch (opts.logDestination) {
    case 'silent':
      return pino({ ...base, level: 'silent' });
    case 'stdout':
      return pino(base, pino.destination(1));
    case 'stderr':
      return pino(base, pino.destination(2));
    default:
      try {
        mkdirSync(join(opts.logDestination, '..'), { recursive: true, mode: 0o700 });
        return pino(base, pino.destination({ dest: opts.logDestination, append: true, mkdir: true, sync: true }));
      } catch {
        // An unwritable log location must not stop the command; replies still reach the user.
        return pino({ ...base, level: 'silent' });
      }
  }
}

/**
 * The vault reads the age key file on first use, so commands that never touch secrets work
 * without a key (and without read access to it).
 */
export function createLazyVault(ageKeyFile: string, extraRecipients: string[]): ConfigVault {
  let inner: Promise<ConfigVault> | null = null;
  const load = async (): Promise<ConfigVault> => {
    // readIdentityFile's errors already say what to do (missing → `pvdifyd keygen`).
    const identities = await readIdentityFile(ageKeyFile);
    const recipients = [...new Set([...(await Promise.all(identities.map((i) => identityToRecipient(i)))), ...extraRecipients])];
    return createAgeVault({ identities, recipients });
  };
  const get = (): Promise<ConfigVault> => {
    inner ??= load().catch((e: unknown) => {
      inner = null;
      throw e;
    });
    return inner;
  };
  return {
    describe: describeConfigVersion,
    encrypt: async (values, now) => (await get()).encrypt(values, now),
    decrypt: async (text) => (await get()).decrypt(text),
  };
}

export interface Runtime {
  options: RuntimeOptions;
  store: StateStore;
  services: Services;
  engine: RolloutEngine;
  adapters: RuntimeAdapters;
  log: Logger;
  clock: Clock;
  recordAudit(input: AuditEventInput): void;
  close(): Promise<void>;
}

/** Opens the state store (repairing a missing or stale index) and builds the services. */
export async function openRuntime(options: RuntimeOptions, extra: { log?: Logger; clock?: Clock; name?: string } = {}): Promise<Runtime> {
  const log = extra.log ?? createRootLogger(options, extra.name ?? 'pvdify');
  const clock = extra.clock ?? systemClock;
  const store = openStateStore({ root: options.stateDir, clock, log: log.child({ component: 'store' }) });
  const vault = createLazyVault(options.ageKeyFile, options.extraRecipients);
  const adapters = createRuntimeAdapters(options, log, clock);
  const engine = buildEngine(options, { store, vault, clock, log: log.child({ component: 'rollout' }) }, adapters);
  const services = createServices({
    store,
    vault,
    clock,
    log: log.child({ component: 'services' }),
    engine,
    listeningPorts: () => listeningTcpPorts(),
  });
  return {
    options,
    store,
    services,
    engine,
    adapters,
    log,
    clock,
    recordAudit: (input) => {
      store.appendAudit(input);
    },
    close: async () => {
      store.close();
    },
  };
}

/** Real adapters for the rollout engine, chosen by the runtime options. */
/** Where pvdifyd's `podman system service` listens (owner-only, like the state dir). */
export function podmanApiSocket(stateDir: string): string {
  return join(stateDir, 'podman.sock');
}

export interface RuntimeAdapters {
  supervisor: Supervisor;
  images: ImageRuntime;
  router: Router;
  edge: Edge;
  probe: HealthProbe;
  snapshots: Snapshotter;
  systemctl: Systemctl;
  podman: PodmanCli;
  /** Starts the router if its admin API does not answer (CLI use without a running daemon). */
  ensureRouter(): Promise<void>;
}

export function createRuntimeAdapters(options: RuntimeOptions, log: Logger, clock: Clock): RuntimeAdapters {
  const rt = options.runtime;
  const podman = new PodmanCli({ bin: rt.podmanPath, log: log.child({ component: 'podman' }) });
  // Answers while pvdifyd runs its `podman system service` (see serve); calls fall back to the CLI.
  const podmanApi = new PodmanApi({ socketPath: podmanApiSocket(options.stateDir), log });
  const systemctl = createSystemctl({ path: rt.systemctlPath, log: log.child({ component: 'systemctl' }) });
  const journal = createJournal({ path: rt.journalctlPath, log: log.child({ component: 'journald' }) });
  const podmanSupervisor = new PodmanSupervisor({ cli: podman, api: podmanApi, log: log.child({ component: 'supervisor' }), networkPods: rt.router === 'caddy' });
  const supervisor: Supervisor =
    rt.supervisor === 'systemd'
      ? createSystemdSupervisor({
          unitDir: rt.unitDir,
          systemctl,
          journal,
          podmanPath: rt.podmanPath,
          stateDir: options.stateDir,
          log: log.child({ component: 'supervisor' }),
          stats: (names) => podman.stats(names),
        })
      : podmanSupervisor;
  const routerProcess = { stateDir: options.stateDir, caddyPath: rt.caddyPath, adminAddress: rt.caddyAdmin, log };
  let routerChecked = false;
  const ensureRouter = async (): Promise<void> => {
    if (rt.router === 'none' || routerChecked) return;
    const status = await routerStatus(routerProcess);
    if (!status.adminReachable) {
      if (rt.supervisor === 'systemd') {
        for (const unit of ROUTER_UNIT_NAMES) await systemctl.start(unit);
      } else {
        log.info('router not running: starting it detached');
        await startRouterDetached(routerProcess);
      }
    }
    routerChecked = true;
  };
  const caddy = createCaddyRouter({ stateDir: options.stateDir, adminAddress: rt.caddyAdmin, log });
  const router: Router =
    rt.router === 'none'
      ? { kind: 'none', apply: async () => {}, current: async () => [] }
      : {
          kind: 'caddy',
          apply: async (routes) => {
            await ensureRouter();
            await caddy.apply(routes);
          },
          current: () => caddy.current(),
        };
  const edge = createCloudflaredEdge({
    stateDir: options.stateDir,
    cloudflaredPath: rt.cloudflaredPath,
    tunnel: rt.tunnel,
    credentialsFile: rt.tunnelCredentials,
    log: log.child({ component: 'edge' }),
    restartTunnel: async () => {
      if (rt.supervisor === 'systemd') await systemctl.restart('cloudflared-pvdify.service');
      else log.warn('tunnel hostnames changed: restart cloudflared to pick up tunnels/pvdify-apps.yml');
    },
  });
  return {
    supervisor,
    images: new PodmanImages({ cli: podman, api: podmanApi, clock, log: log.child({ component: 'images' }) }),
    router,
    edge,
    probe: createHttpProbe(),
    snapshots: createTarSnapshotter({
      stateDir: options.stateDir,
      snapshotDir: rt.snapshotDir,
      unitDir: rt.supervisor === 'systemd' ? rt.unitDir : null,
      keep: rt.snapshotKeep,
      clock,
      log: log.child({ component: 'snapshots' }),
    }),
    systemctl,
    podman,
    ensureRouter,
  };
}

/** Registry credentials from the environment, for the image's registry host (or every host). */
export function registryAuthFor(options: RuntimeAdapterOptions): ((image: string) => RegistryAuth | null) | undefined {
  const auth = options.registryAuth;
  if (!auth) return undefined;
  return (image) => {
    if (auth.host === null) return { username: auth.username, password: auth.password };
    return image.startsWith(`${auth.host}/`) ? { username: auth.username, password: auth.password } : null;
  };
}

export function buildEngine(
  options: RuntimeOptions,
  deps: { store: StateStore; vault: ConfigVault; clock: Clock; log: Logger },
  adapters: RuntimeAdapters = createRuntimeAdapters(options, deps.log, deps.clock),
): RolloutEngine {
  return createRolloutEngine({
    ...deps,
    supervisor: adapters.supervisor,
    images: adapters.images,
    router: adapters.router,
    edge: adapters.edge,
    probe: adapters.probe,
    snapshots: adapters.snapshots,
    renderEnvFile,
    registryAuth: registryAuthFor(options.runtime),
    timing: { healthDeadlineMs: options.runtime.healthDeadlineMs, drainMs: options.runtime.drainMs },
  });
}
