/**
 * What command modules call. Front doors (CLI, Slack) build an `Actor` and a `Services` and pass
 * them to `run`. The dispatcher records one audit event per command (ok, refused or failed);
 * services record audit events only for work that outlives the command (a rollout's outcome).
 */
import type { Actor, AppSlot, AuditEvent, Release } from '../model.ts';
import type { Environment } from '../names.ts';
import type { AuditQuery, DomainRow } from '../ports/store.ts';
import type { LogLine } from '../ports/runtime.ts';
import type { ProgressListener } from '../deploy/progress.ts';
import type { InstanceView } from '../deploy/rollout-engine.ts';

export interface ConfigEntry {
  key: string;
  /** Masked for display (`•••••••• (24 chars)`). Never any part of the value. */
  masked: string;
  /** Length of the value in bytes (public anyway: it is the ciphertext's length). */
  length: number;
}

export interface ConfigChange {
  /** New config version number. */
  configVersion: number;
  /** The release created for it, or null when the app was never deployed. */
  release: Release | null;
  keys: string[];
}

export interface AppInfo {
  app: AppSlot;
  latestRelease: Release | null;
  configKeys: string[];
  domains: DomainRow[];
}

export interface AppsService {
  list(): AppSlot[];
  info(name: string): AppInfo;
  create(name: string, environment: Environment | undefined, actor: Actor): Promise<AppSlot>;
  /** `confirm` must equal `name` (Heroku's --confirm). */
  delete(name: string, confirm: string | undefined, actor: Actor): Promise<void>;
}

export interface ReleasesService {
  list(app: string, limit: number): Release[];
  info(app: string, version: number): Release;
}

export interface ConfigService {
  list(app: string): ConfigEntry[];
  set(app: string, pairs: Array<[string, string]>, actor: Actor): Promise<ConfigChange>;
  unset(app: string, keys: string[], actor: Actor): Promise<ConfigChange>;
  /** Terminal only: ForbiddenError unless actor.terminal. */
  get(app: string, key: string, actor: Actor): Promise<string>;
}

export interface DomainsService {
  list(app: string): DomainRow[];
  add(app: string, domain: string, actor: Actor): Promise<DomainRow>;
  remove(app: string, domain: string, actor: Actor): Promise<void>;
}

export interface AuditService {
  query(q: AuditQuery): AuditEvent[];
}

/** What runs containers: deploy, rollback, ps, scale, restart, logs (the rollout engine). */
export interface RolloutService {
  deploy(app: string, image: string, actor: Actor, onProgress?: ProgressListener): Promise<Release>;
  /** `version` undefined: the release before the current one. */
  rollback(app: string, version: number | undefined, actor: Actor, onProgress?: ProgressListener): Promise<Release>;
  ps(app: string): Promise<InstanceView[]>;
  scale(app: string, counts: Record<string, number>, actor: Actor, onProgress?: ProgressListener): Promise<AppSlot>;
  /** Returns how many instances were restarted. */
  restart(app: string, processType: string | undefined, actor: Actor, onProgress?: ProgressListener): Promise<number>;
  logs(app: string, opts: { lines: number; process?: string }): Promise<LogLine[]>;
}

export interface Services {
  apps: AppsService;
  releases: ReleasesService;
  config: ConfigService;
  domains: DomainsService;
  audit: AuditService;
  rollout: RolloutService;
}
