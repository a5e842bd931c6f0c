/**
 * The state store port: YAML files under the state dir are the source of truth, the SQLite
 * index answers queries. Every write is atomic (temp + fsync + rename + dir fsync) and updates
 * the index in the same critical section, so readers in other processes see both or neither.
 * Methods are synchronous: better-sqlite3 and small-file fs calls are fast and blocking them
 * keeps crash reasoning simple.
 */
import type {
  AppSlot,
  Approval,
  AuditEvent,
  AuditEventInput,
  Release,
  ReleaseStatus,
} from '../model.ts';

/** A row of the seed's `domains` table. */
export interface DomainRow {
  domain: string;
  app_name: string;
  status: 'pending' | 'active' | 'failed';
  cf_record_id: string | null;
  created_at: string;
}

/** One config version as the index knows it (keys only, never values). */
export interface ConfigVersionRow {
  app_name: string;
  version: number;
  keys: string[];
  created_at: string;
}

export interface AuditQuery {
  app?: string;
  /** Matches actor_id exactly or actor_name case-insensitively. */
  user?: string;
  /** ISO timestamp; events at or after it. */
  since?: string;
  /** Newest first; default 50. */
  limit?: number;
}

/** A state file that failed to parse or failed its schema; it is left untouched. */
export interface StateProblem {
  path: string;
  message: string;
}

export interface RebuildReport {
  apps: number;
  releases: number;
  configVersions: number;
  approvals: number;
  auditEvents: number;
  problems: StateProblem[];
  durationMs: number;
}

export interface NewApp {
  name: string;
  /** Ports something other than pvdify listens on: never allocated as bind_port. */
  avoidPorts?: ReadonlySet<number>;
  environment: AppSlot['environment'];
  processes?: AppSlot['processes'];
  resources?: AppSlot['resources'];
  healthcheck?: AppSlot['healthcheck'];
}

export type NewRelease = Omit<Release, 'schema_version' | 'version' | 'created_at' | 'updated_at' | 'finished_at' | 'error' | 'status'> & {
  status?: ReleaseStatus;
};

export interface ReleaseStatusPatch {
  status: ReleaseStatus;
  error?: Release['error'];
  finished?: boolean;
}

/** A held per-app lock; `release()` is idempotent. */
export interface LockHandle {
  readonly app: string;
  release(): void;
}

export interface LockInfo {
  app: string;
  holder: string;
  operation: string;
  pid: number;
  since: string;
}

export interface StateStore {
  readonly root: string;

  // --- reads (index) ---
  listApps(): AppSlot[];
  getApp(name: string): AppSlot | null;
  /** Newest first. */
  listReleases(app: string, limit?: number): Release[];
  getRelease(app: string, version: number): Release | null;
  /** Domains rows, for one app or all. */
  listDomains(app?: string): DomainRow[];
  findDomain(domain: string): DomainRow | null;
  /** Newest first. */
  listConfigVersions(app: string): ConfigVersionRow[];
  /** The SOPS text of `config/<app>/v<N>.sops.yaml`. */
  readConfigVersion(app: string, version: number): string;
  getApproval(id: string): Approval | null;
  listApprovals(filter?: { app?: string; status?: Approval['status'] }): Approval[];
  queryAudit(query: AuditQuery): AuditEvent[];
  /** Files that failed their schema at the last scan (left untouched). */
  problems(): StateProblem[];

  // --- writes (YAML first, then index, one critical section) ---
  /** Allocates the lowest free bind_port in 3000–3999; ConflictError if the name is taken, ExhaustedError if no port is free. */
  createApp(input: NewApp): AppSlot;
  /** Read-modify-write under the store lock; the callback must be pure. `updated_at` is set by the store. */
  updateApp(name: string, mutate: (app: AppSlot) => AppSlot): AppSlot;
  /** Removes the slot, its releases and config versions from files and index; frees the port and domains. */
  deleteApp(name: string): void;
  /** Allocates the next version number for the app. */
  createRelease(input: NewRelease): Release;
  updateReleaseStatus(app: string, version: number, patch: ReleaseStatusPatch): Release;
  /** Writes the next immutable `config/<app>/v<N>.sops.yaml` and returns N. */
  writeConfigVersion(app: string, sopsText: string, keys: string[]): number;
  /** Writes `config/<app>/<fileName>` with mode 0600 (rendered env files). */
  writeSecretFile(app: string, fileName: string, content: string): string;
  putApproval(approval: Approval): void;
  /** Compare-and-set: applies `patch` only if the approval's status is still `expect`; returns null otherwise. */
  decideApproval(id: string, expect: Approval['status'], patch: Partial<Approval>): Approval | null;
  appendAudit(input: AuditEventInput): AuditEvent;

  // --- locks (cross-process) ---
  /** LockedError naming the holder and since when, if someone else holds it. Stale locks (dead pid) are taken over. */
  acquireAppLock(app: string, holder: string, operation: string): LockHandle;
  listLocks(): LockInfo[];

  // --- maintenance ---
  rebuildIndex(): RebuildReport;
  close(): void;
}
