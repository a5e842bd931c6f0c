/**
 * What command modules call. Front doors (CLI, Slack) build an `Actor` and a `Services` and pass
 * them to `run`. Every mutating method records its own audit event (ok or failed); refusals made
 * before a service is called are recorded by the dispatcher.
 */
import type { Actor, AppSlot, AuditEvent, Release } from '../model.ts';
import type { Environment } from '../names.ts';
import type { AuditQuery, DomainRow } from '../ports/store.ts';

export interface ConfigEntry {
  key: string;
  /** Masked for display: first 4 chars of long values then `…`, or `••••`. Never the value. */
  masked: string;
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
  create(name: string, environment: Environment | undefined, actor: Actor): AppSlot;
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

export interface Services {
  apps: AppsService;
  releases: ReleasesService;
  config: ConfigService;
  domains: DomainsService;
  audit: AuditService;
}
