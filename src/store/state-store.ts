/**
 * `StateStore` over the state dir: YAML files are the truth, `pvdifyd.db` is the index, and
 * `pvdifyd.lock.db` is the cross-process mutex plus the per-app locks.
 *
 * Every mutation runs in one critical section (`LockDb.withMutex`, a BEGIN IMMEDIATE on the lock
 * file) and follows the same steps:
 *
 *   1. repair whatever an earlier, interrupted writer left in the `journal` table;
 *   2. record the intent (which files are about to change) in `journal` and commit it;
 *   3. change the files (atomic write, durable rename, dir fsync);
 *   4. in one index transaction: update the rows, refresh the directory fingerprints, delete the
 *      journal row.
 *
 * A process killed between 2 and 4 leaves a journal row; the next writer (or the next open)
 * re-reads exactly those files and brings their rows in line, deletes their temp files, and
 * finishes an interrupted app deletion. Changes made behind the store's back (a restored backup,
 * a hand edit, a power cut that lost the index's last commits) show up as a directory whose
 * mtime no longer matches `dir_state`, or an audit file whose size no longer matches, and make the
 * next open rebuild the index (logged at warn).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, fsyncSync, openSync, closeSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { auditFileForTime, sealAuditEvent } from '../core/audit/audit-chain.ts';
import { ConflictError, CorruptStateError, ExhaustedError, InvalidInputError, NotFoundError, StateUnwritableError } from '../core/errors.ts';
import {
  AppSlot,
  Approval,
  AuditEventInput,
  describeZodError,
  Release,
  type AuditEvent,
  type AuditEventInput as AuditEventInputType,
} from '../core/model.ts';
import { SlotName } from '../core/names.ts';
import type { Clock, Logger } from '../core/ports/clock.ts';
import type {
  AuditQuery,
  ConfigVersionRow,
  DomainRow,
  LockHandle,
  LockInfo,
  NewApp,
  NewRelease,
  RebuildReport,
  ReleaseStatusPatch,
  StateProblem,
  StateStore,
} from '../core/ports/store.ts';
import {
  ensureDir,
  FileExistsError,
  fsyncDir,
  removeFileDurable,
  removeTempFiles,
  removeTreeDurable,
  SECRET_FILE_MODE,
  writeFileAtomic,
} from './atomic-file.ts';
import { appendAuditLine, auditInSync, syncAuditIndex } from './audit-log.ts';
import {
  createBulkIndex,
  finishBulkIndex,
  IndexDb,
  INDEX_BUSY_TIMEOUT_MS,
  INDEX_FILE_NAME,
  isCorruptDbError,
  migrate,
  openIndex,
  unwritableDb,
} from './index-db.ts';
import { LockDb, LOCK_DB_FILE_NAME } from './lock-db.ts';
import { dirMtime, rebuildInto, type RebuildCounts } from './rebuild-index.ts';
import {
  APPROVAL_FILE_RE,
  APPS_DIR,
  AUDIT_DIR,
  checkConfigText,
  classifyRel,
  CONFIG_DIR,
  CONFIG_FILE_RE,
  loadAppFile,
  loadApprovalFile,
  loadConfigFile,
  loadReleaseFile,
  relApp,
  relApproval,
  relConfig,
  relRelease,
  RELEASES_DIR,
  SECRET_FILE_RE,
  TRACKED_TOP_DIRS,
  type Loaded,
} from './state-files.ts';
import { stringifyYaml } from './yaml-io.ts';

export const PORT_RANGE = { first: 3000, last: 3999 } as const;

/** Points where tests can stop a write as if the process had been killed. */
export interface StoreTestHooks {
  /** Called after the files of a mutation are in place and before the index learns of them. */
  afterFiles?(intent: Intent): void;
}

export interface OpenStateStoreOptions {
  root: string;
  clock: Clock;
  log: Logger;
  /** Never writes: a missing, stale or damaged index is rebuilt in memory instead. */
  readOnly?: boolean;
  hooks?: StoreTestHooks;
}

/** What a journal row says is about to change (see the module comment). */
export type Intent =
  | { kind: 'files'; files: string[]; dirs: string[] }
  | { kind: 'delete-app'; app: string }
  | { kind: 'audit' };

const DEFAULT_PROCESSES: AppSlot['processes'] = { web: { command: null, count: 1 } };
const DEFAULT_RESOURCES: AppSlot['resources'] = { memory: null, cpu: null };
const DEFAULT_HEALTHCHECK: AppSlot['healthcheck'] = { path: '/health', interval: '30s', timeout: '5s', retries: 3 };

/** Opens the state dir, creating its layout and repairing the index as needed (see the module comment). */
export function openStateStore(opts: OpenStateStoreOptions): StateStore {
  return new FileStateStore(opts);
}

function checkName(name: string, what = 'app name'): string {
  const r = SlotName.safeParse(name);
  if (!r.success) throw new InvalidInputError(`invalid ${what} ${JSON.stringify(String(name).slice(0, 60))}: ${describeZodError(r.error).replace(/^\(root\): /, '')}`);
  return r.data;
}

function checkVersion(version: number, what: string): number {
  if (!Number.isSafeInteger(version) || version < 1) throw new InvalidInputError(`invalid ${what} ${String(version)}: versions are whole numbers from 1`);
  return version;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[:.]/g, '-');
}

class FileStateStore implements StateStore {
  readonly root: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly readOnly: boolean;
  private readonly hooks: StoreTestHooks;
  private readonly dbPath: string;
  private ix!: IndexDb;
  /** Inode of the index file we have open; null for an in-memory index (read-only fallback). */
  private ixIno: bigint | null = null;
  private readonly locks: LockDb | null;
  private readonly held = new Map<string, { app: string; token: string }>();
  private closed = false;
  /** Set once the current mutation has changed a file (no blind retry after that). */
  private touchedFiles = false;

  constructor(opts: OpenStateStoreOptions) {
    this.root = resolve(opts.root);
    this.clock = opts.clock;
    this.log = opts.log;
    this.readOnly = opts.readOnly ?? false;
    this.hooks = opts.hooks ?? {};
    this.dbPath = join(this.root, INDEX_FILE_NAME);
    if (this.readOnly) {
      this.locks = null;
      this.openReadOnly();
      return;
    }
    this.prepareRoot();
    this.locks = LockDb.open(this.root, this.log, this.clock.now());
    try {
      this.locks.withMutex(() => this.openIndexLocked());
    } catch (e) {
      this.detach();
      this.locks.close();
      throw e;
    }
  }

  // ------------------------------------------------------------------------------------------
  // opening and repair

  private prepareRoot(): void {
    try {
      const st = statSync(this.root);
      if (!st.isDirectory()) throw new StateUnwritableError(`cannot use ${this.root} as the state dir: it is not a directory`);
    } catch (e) {
      if (e instanceof StateUnwritableError) throw e;
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new StateUnwritableError(`cannot use ${this.root} as the state dir: ${(e as Error).message}`);
    }
    ensureDir(this.root);
    for (const d of TRACKED_TOP_DIRS) ensureDir(join(this.root, d));
  }

  private now(): Date {
    return this.clock.now();
  }

  private attach(db: Database.Database): void {
    this.ix = new IndexDb(db);
    this.ixIno = statSync(this.dbPath, { bigint: true }).ino;
  }

  private detach(): void {
    if (this.ix?.db.open) this.ix.db.close();
  }

  /** Opens (or creates, migrates, repairs) the index; caller holds the mutex. */
  private openIndexLocked(): void {
    this.detach();
    this.removeRebuildLeftovers();
    const opened = openIndex(this.dbPath, { readOnly: false, now: this.now().toISOString() });
    if (opened.status === 'missing') {
      this.log.warn({ path: this.dbPath }, 'index missing; building it from the state files');
      this.rebuildFresh();
      return;
    }
    if (opened.status === 'unusable') {
      this.moveIndexAside(opened.reason);
      this.rebuildFresh();
      return;
    }
    this.attach(opened.db);
    if (opened.migratedFrom !== null) this.log.warn({ from: opened.migratedFrom, path: this.dbPath }, 'migrated the index to the current schema');
    this.recoverJournal();
    if (opened.needsRebuild) {
      this.log.warn({ path: this.dbPath }, 'index has not been filled from the files yet; rebuilding it');
      this.rebuildHealthy();
      return;
    }
    const stale = this.staleReason();
    if (stale) {
      this.log.warn({ reason: stale }, 'index is stale; rebuilding it from the state files');
      this.rebuildHealthy();
      return;
    }
    if (!auditInSync(this.ix, this.root)) this.ix.tx(() => syncAuditIndex(this.ix, this.root, this.log, { truncateTorn: true }));
  }

  private openReadOnly(): void {
    let opened: ReturnType<typeof openIndex>;
    try {
      opened = openIndex(this.dbPath, { readOnly: true, now: this.now().toISOString() });
    } catch (e) {
      if (!(e instanceof StateUnwritableError)) throw e;
      opened = { status: 'unusable', reason: e.message };
    }
    let reason: string | null = null;
    if (opened.status === 'ok') {
      this.attach(opened.db);
      reason = opened.needsRebuild
        ? 'never filled'
        : this.ix.journal().length > 0
          ? 'an interrupted write has not been repaired'
          : (this.staleReason() ?? (auditInSync(this.ix, this.root) ? null : 'audit files changed'));
      if (reason === null) return;
      this.detach();
    } else {
      reason = opened.status === 'missing' ? 'missing' : opened.reason;
    }
    this.log.warn({ path: this.dbPath, reason }, 'index unusable for a read-only store; answering from an in-memory index built from the files');
    const db = new Database(':memory:');
    migrate(db, 0, this.now().toISOString());
    this.ix = new IndexDb(db);
    this.ixIno = null;
    this.ix.tx(() => rebuildInto(this.ix, { root: this.root, log: this.log, now: this.now(), repairFiles: false }));
  }

  private removeRebuildLeftovers(): void {
    for (const name of readdirSync(this.root)) {
      if (name.startsWith(`${INDEX_FILE_NAME}.rebuild-`)) {
        try {
          unlinkSync(join(this.root, name));
        } catch {
          // harmless: the name never collides with a live file
        }
      }
    }
  }

  /** Keeps a damaged index (and its WAL) for inspection as `pvdifyd.db.corrupt-<time>`. */
  private moveIndexAside(reason: string): void {
    this.detach();
    const aside = `${this.dbPath}.corrupt-${stamp(this.now())}`;
    this.log.warn({ path: this.dbPath, aside, reason }, 'index is damaged or unrecognised; moving it aside and rebuilding from the state files');
    try {
      renameSync(this.dbPath, aside);
      if (existsSync(`${this.dbPath}-wal`)) renameSync(`${this.dbPath}-wal`, `${aside}-wal`);
      if (existsSync(`${this.dbPath}-shm`)) unlinkSync(`${this.dbPath}-shm`);
    } catch (e) {
      throw unwritableDb(e, this.dbPath);
    }
  }

  /** Builds a new index file next to the live path and renames it into place. */
  private rebuildFresh(): RebuildCounts {
    const tmp = `${this.dbPath}.rebuild-${process.pid}`;
    const now = this.now();
    let counts: RebuildCounts;
    try {
      for (const ext of ['', '-wal', '-shm', '-journal']) if (existsSync(tmp + ext)) unlinkSync(tmp + ext);
      const db = createBulkIndex(tmp, now.toISOString());
      try {
        const bulk = new IndexDb(db);
        counts = bulk.tx(() => rebuildInto(bulk, { root: this.root, log: this.log, now, repairFiles: true }));
        finishBulkIndex(db);
      } finally {
        if (db.open) db.close();
      }
      const fd = openSync(tmp, 'r+');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      // Sidecars of a deleted index must not be replayed into the new one.
      for (const ext of ['-wal', '-shm']) if (existsSync(this.dbPath + ext)) unlinkSync(this.dbPath + ext);
      renameSync(tmp, this.dbPath);
      fsyncDir(this.root);
    } catch (e) {
      for (const ext of ['', '-wal', '-shm']) if (existsSync(tmp + ext)) unlinkSync(tmp + ext);
      if (e instanceof StateUnwritableError || e instanceof CorruptStateError) throw e;
      throw unwritableDb(e, this.dbPath);
    }
    const opened = openIndex(this.dbPath, { readOnly: false, now: now.toISOString() });
    if (opened.status !== 'ok') throw new StateUnwritableError(`the rebuilt index ${this.dbPath} cannot be opened`);
    this.attach(opened.db);
    return counts;
  }

  /**
   * Full rebuild of a healthy index. Preferably into a fresh file swapped in by rename; but an
   * index's WAL and shared-memory files are named after its path, so renaming a new file over one
   * that another connection still has open would hand that connection's WAL to the new file. The
   * swap therefore happens only when this is the sole connection (leaving WAL mode succeeds only
   * then, and new openers wait for the mutex we hold); otherwise the rows are replaced in one
   * transaction on the live file, which every reader sees atomically too.
   */
  private rebuildHealthy(): RebuildCounts {
    const db = this.ix.db;
    let sole = false;
    db.pragma('busy_timeout = 0');
    try {
      sole = String(db.pragma('journal_mode = DELETE', { simple: true })).toLowerCase() === 'delete';
    } catch (e) {
      if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
    } finally {
      if (db.open) db.pragma(`busy_timeout = ${INDEX_BUSY_TIMEOUT_MS}`);
    }
    if (!sole) {
      this.log.info({ path: this.dbPath }, 'index is open elsewhere; rebuilding it in place');
      return this.rebuildInPlace();
    }
    this.detach();
    try {
      return this.rebuildFresh();
    } catch (e) {
      // The old index is still in place (the rename is the last step): keep serving from it.
      const opened = openIndex(this.dbPath, { readOnly: false, now: this.now().toISOString() });
      if (opened.status === 'ok') this.attach(opened.db);
      throw e;
    }
  }

  /** Replaces every derived row in one transaction on the live index. */
  private rebuildInPlace(): RebuildCounts {
    const counts = this.ix.tx(() => rebuildInto(this.ix, { root: this.root, log: this.log, now: this.now(), repairFiles: true }));
    // A rebuild rewrites every page: fold the WAL back now rather than in some later write.
    this.ix.db.pragma('wal_checkpoint(TRUNCATE)');
    return counts;
  }

  /** Why the index no longer describes the tree (a tracked directory changed), or null. */
  private staleReason(): string | null {
    const states = this.ix.dirStates();
    const known = new Set(states.map((s) => s.path));
    for (const top of TRACKED_TOP_DIRS) {
      if (!known.has(top) && existsSync(join(this.root, top))) return `${top}/ was never indexed`;
    }
    for (const s of states) {
      if (dirMtime(join(this.root, s.path)) !== s.mtime_ns) return `${s.path}/ changed since it was indexed`;
    }
    return null;
  }

  /** Repairs what interrupted writers left; caller holds the mutex. */
  private recoverJournal(): void {
    const rows = this.ix.journal();
    for (const row of rows) {
      let intent: Intent;
      try {
        intent = JSON.parse(row.intent) as Intent;
      } catch {
        this.ix.deleteJournal(row.id);
        continue;
      }
      this.log.warn({ intent, pid: row.pid }, 'repairing after an interrupted write');
      this.ix.tx(() => {
        this.repair(intent);
        this.ix.deleteJournal(row.id);
      });
    }
  }

  /** Makes the index agree with the files an intent names (idempotent). */
  private repair(intent: Intent): void {
    if (intent.kind === 'files') {
      for (const rel of intent.files) {
        removeTempFiles(join(this.root, dirname(rel)), basename(rel));
        this.reindexRel(rel);
      }
      this.recordDirs(intent.dirs);
    } else if (intent.kind === 'delete-app') {
      this.deleteAppFiles(intent.app);
      this.deleteAppRows(intent.app);
    } else {
      syncAuditIndex(this.ix, this.root, this.log, { truncateTorn: true });
      this.recordDirs([AUDIT_DIR]);
    }
  }

  private reindexRel(rel: string): void {
    const ref = classifyRel(rel);
    if (!ref || ref.kind === 'secret') return;
    const abs = join(this.root, rel);
    const settle = <T>(loaded: Loaded<T>, put: (v: T) => void, drop: () => void): void => {
      if (loaded.ok) {
        put(loaded.value);
        this.ix.clearProblem(abs);
        return;
      }
      drop();
      if (loaded.missing) this.ix.clearProblem(abs);
      else this.ix.setProblem(abs, loaded.message);
    };
    switch (ref.kind) {
      case 'app':
        return settle(loadAppFile(this.root, ref.name), (a) => void this.ix.putApp(a), () => this.ix.deleteApp(ref.name));
      case 'release':
        return settle(
          loadReleaseFile(this.root, ref.app, ref.version),
          (r) => this.ix.putRelease(r),
          () => this.ix.deleteRelease(ref.app, ref.version),
        );
      case 'config':
        return settle(
          loadConfigFile(this.root, ref.app, ref.version),
          (c) => this.ix.putConfig(c),
          () => this.ix.deleteConfig(ref.app, ref.version),
        );
      case 'approval':
        return settle(loadApprovalFile(this.root, ref.id), (a) => this.ix.putApproval(a), () => this.ix.deleteApproval(ref.id));
    }
  }

  private recordDirs(dirs: readonly string[]): void {
    for (const rel of dirs) {
      const m = dirMtime(join(this.root, rel));
      if (m === null) this.ix.deleteDirState(rel);
      else this.ix.setDirState(rel, m);
    }
  }

  /** Reopens when another process replaced the index file (moved aside after damage). */
  private ensureCurrent(): void {
    if (this.ixIno === null) return;
    let ino: bigint | null = null;
    try {
      ino = statSync(this.dbPath, { bigint: true }).ino;
    } catch {
      ino = null;
    }
    if (ino === this.ixIno) return;
    if (this.readOnly) {
      this.detach();
      this.openReadOnly();
    } else {
      this.log.warn({ path: this.dbPath }, 'index file was replaced by another process; reopening it');
      this.locks?.withMutex(() => this.openIndexLocked());
    }
  }

  private repairCorruptIndex(e: unknown): void {
    this.log.warn({ path: this.dbPath, reason: (e as Error).message }, 'index reported damage while in use');
    if (this.readOnly) {
      this.detach();
      this.openReadOnly();
      return;
    }
    this.locks?.withMutex(() => {
      let ino: bigint | null = null;
      try {
        ino = statSync(this.dbPath, { bigint: true }).ino;
      } catch {
        ino = null;
      }
      if (ino !== null && ino === this.ixIno) this.moveIndexAside((e as Error).message);
      this.openIndexLocked();
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the state store is closed');
  }

  /** Runs an index read; a damaged index is repaired and the read retried once. */
  private read<T>(fn: () => T): T {
    this.assertOpen();
    this.ensureCurrent();
    try {
      return fn();
    } catch (e) {
      if (!isCorruptDbError(e)) throw e;
      this.repairCorruptIndex(e);
      return fn();
    }
  }

  /** One critical section: repair leftovers, then `fn` (which changes files through `apply`). */
  private mutate<T>(fn: () => T): T {
    this.assertOpen();
    if (this.readOnly || !this.locks) throw new StateUnwritableError(`the state store at ${this.root} was opened read-only`);
    const locks = this.locks;
    const attempt = (): T =>
      locks.withMutex(() => {
        this.ensureCurrent();
        this.recoverJournal();
        return fn();
      });
    this.touchedFiles = false;
    try {
      return attempt();
    } catch (e) {
      if (!isCorruptDbError(e)) throw e;
      const touched = this.touchedFiles;
      this.repairCorruptIndex(e);
      // Files are the truth and the rebuild has read them: retrying after a file changed would
      // apply the change twice.
      if (touched) throw unwritableDb(e, this.dbPath);
      return attempt();
    }
  }

  /** Steps 2–4 of a mutation (see the module comment). */
  private apply(intent: Intent, writeFiles: () => void, updateIndex: () => void): void {
    const journalId = this.ix.addJournal(process.pid, JSON.stringify(intent), this.now().toISOString());
    this.touchedFiles = true;
    try {
      writeFiles();
    } catch (e) {
      // Whatever reached the disk is the truth: bring the index in line before reporting.
      try {
        this.ix.tx(() => {
          this.repair(intent);
          this.ix.deleteJournal(journalId);
        });
      } catch (repairError) {
        this.log.error({ err: (repairError as Error).message, intent }, 'could not repair the index after a failed write; the next write retries');
      }
      throw e;
    }
    this.hooks.afterFiles?.(intent);
    this.ix.tx(() => {
      updateIndex();
      if (intent.kind === 'files') this.recordDirs(intent.dirs);
      this.ix.deleteJournal(journalId);
    });
  }

  /** The app as its file says; NotFoundError or CorruptStateError otherwise. */
  private loadAppForWrite(name: string): AppSlot {
    const loaded = loadAppFile(this.root, name);
    if (loaded.ok) return loaded.value;
    if (loaded.missing) throw new NotFoundError(`app ${name} does not exist`, 'see the apps with `apps`');
    const abs = join(this.root, relApp(name));
    this.ix.setProblem(abs, loaded.message);
    throw new CorruptStateError(abs, loaded.message);
  }

  /** Existence check through the index, falling back to the file (which may be damaged). */
  private requireApp(name: string): AppSlot {
    return this.ix.getApp(name) ?? this.loadAppForWrite(name);
  }

  private abs(rel: string): string {
    return join(this.root, rel);
  }

  // ------------------------------------------------------------------------------------------
  // reads

  listApps(): AppSlot[] {
    return this.read(() => this.ix.listApps());
  }

  getApp(name: string): AppSlot | null {
    return this.read(() => this.ix.getApp(name));
  }

  listReleases(app: string, limit?: number): Release[] {
    const n = limit === undefined ? -1 : Math.max(0, Math.floor(limit));
    return this.read(() => this.ix.listReleases(app, n));
  }

  getRelease(app: string, version: number): Release | null {
    return this.read(() => this.ix.getRelease(app, version));
  }

  listDomains(app?: string): DomainRow[] {
    return this.read(() => this.ix.listDomains(app));
  }

  findDomain(domain: string): DomainRow | null {
    return this.read(() => this.ix.findDomain(domain));
  }

  listConfigVersions(app: string): ConfigVersionRow[] {
    return this.read(() => this.ix.listConfigVersions(app));
  }

  readConfigVersion(app: string, version: number): string {
    this.assertOpen();
    checkName(app);
    checkVersion(version, 'config version');
    try {
      return readFileSync(this.abs(relConfig(app, version)), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`config version v${version} of ${app} does not exist`);
      throw e;
    }
  }

  getApproval(id: string): Approval | null {
    return this.read(() => this.ix.getApproval(id));
  }

  listApprovals(filter: { app?: string; status?: Approval['status'] } = {}): Approval[] {
    return this.read(() => this.ix.listApprovals(filter));
  }

  queryAudit(query: AuditQuery): AuditEvent[] {
    let sinceIso: string | undefined;
    if (query.since !== undefined) {
      const d = new Date(query.since);
      if (Number.isNaN(d.getTime())) throw new InvalidInputError(`invalid time ${JSON.stringify(query.since.slice(0, 40))}`, 'use an ISO time like 2026-01-05 or 2026-01-05T10:30:00Z');
      sinceIso = d.toISOString();
    }
    const limit = query.limit === undefined ? 50 : Math.max(0, Math.floor(query.limit));
    return this.read(() => this.ix.queryAudit({ ...query, limit, sinceIso }));
  }

  problems(): StateProblem[] {
    return this.read(() => this.ix.problems());
  }

  // ------------------------------------------------------------------------------------------
  // writes

  createApp(input: NewApp): AppSlot {
    const name = checkName(input.name);
    return this.mutate(() => {
      const rel = relApp(name);
      if (this.ix.getApp(name)) throw new ConflictError(`app ${name} already exists`, 'pick another name');
      const onDisk = loadAppFile(this.root, name);
      if (onDisk.ok) throw new ConflictError(`app ${name} already exists`, 'pick another name');
      if (!onDisk.missing) throw new CorruptStateError(this.abs(rel), onDisk.message);
      const port = this.freePort(input.avoidPorts);
      const now = this.now().toISOString();
      const parsed = AppSlot.safeParse({
        version: 1,
        name,
        environment: input.environment,
        status: 'created',
        image: null,
        bind_port: port,
        processes: input.processes ?? DEFAULT_PROCESSES,
        domains: [],
        domain_routes: {},
        resources: input.resources ?? DEFAULT_RESOURCES,
        healthcheck: input.healthcheck ?? DEFAULT_HEALTHCHECK,
        current_release: null,
        config_version: null,
        deployment: null,
        created_at: now,
        updated_at: now,
      });
      if (!parsed.success) throw new InvalidInputError(`invalid app ${name}: ${describeZodError(parsed.error)}`);
      const app = parsed.data;
      this.apply(
        { kind: 'files', files: [rel], dirs: [APPS_DIR] },
        () => writeFileAtomic(this.abs(rel), stringifyYaml(app), { overwrite: false }),
        () => {
          this.ix.putApp(app);
          this.ix.clearProblem(this.abs(rel));
        },
      );
      return app;
    });
  }

  /** Lowest port no app has and `avoid` (ports something else listens on) does not name. */
  private freePort(avoid: ReadonlySet<number> = new Set()): number {
    const used = new Set(this.ix.usedPorts());
    let candidate: number = PORT_RANGE.first;
    while (candidate <= PORT_RANGE.last && (used.has(candidate) || avoid.has(candidate))) candidate += 1;
    if (candidate > PORT_RANGE.last) {
      throw new ExhaustedError(
        `all ${PORT_RANGE.last - PORT_RANGE.first + 1} router ports ${PORT_RANGE.first}–${PORT_RANGE.last} are in use; delete an app to free one`,
      );
    }
    return candidate;
  }

  updateApp(name: string, mutateApp: (app: AppSlot) => AppSlot): AppSlot {
    checkName(name);
    return this.mutate(() => {
      const current = this.loadAppForWrite(name);
      const proposed = mutateApp(structuredClone(current));
      const parsed = AppSlot.safeParse({ ...proposed, updated_at: this.now().toISOString() });
      if (!parsed.success) throw new InvalidInputError(`invalid change to app ${name}: ${describeZodError(parsed.error)}`);
      const next = parsed.data;
      for (const field of ['name', 'version', 'bind_port', 'created_at'] as const) {
        if (next[field] !== current[field]) throw new InvalidInputError(`${field} of app ${name} cannot be changed`);
      }
      if (new Set(next.domains).size !== next.domains.length) throw new InvalidInputError(`app ${name} lists a domain twice`);
      for (const domain of next.domains) {
        const owner = this.ix.findDomain(domain);
        if (owner && owner.app_name !== name) {
          throw new ConflictError(`${domain} is attached to another app (${owner.app_name})`, `remove it there first: domains:remove ${owner.app_name} ${domain}`);
        }
      }
      const rel = relApp(name);
      this.apply(
        { kind: 'files', files: [rel], dirs: [APPS_DIR] },
        () => writeFileAtomic(this.abs(rel), stringifyYaml(next)),
        () => {
          this.ix.putApp(next);
          this.ix.clearProblem(this.abs(rel));
        },
      );
      return next;
    });
  }

  deleteApp(name: string): void {
    checkName(name);
    this.mutate(() => {
      this.loadAppForWrite(name);
      this.apply(
        { kind: 'delete-app', app: name },
        () => this.deleteAppFiles(name),
        () => this.deleteAppRows(name),
      );
    });
  }

  /** App file first, so an interrupted deletion never leaves an app without its history. */
  private deleteAppFiles(name: string): void {
    removeFileDurable(this.abs(relApp(name)));
    removeTreeDurable(this.abs(`${RELEASES_DIR}/${name}`));
    removeTreeDurable(this.abs(`${CONFIG_DIR}/${name}`));
  }

  private deleteAppRows(name: string): void {
    this.ix.deleteApp(name);
    this.ix.stmt('DELETE FROM releases WHERE app_name = ?').run(name);
    this.ix.stmt('DELETE FROM config_versions WHERE app_name = ?').run(name);
    this.ix.clearProblem(this.abs(relApp(name)));
    this.ix.clearProblemsUnder(`${this.abs(`${RELEASES_DIR}/${name}`)}/`);
    this.ix.clearProblemsUnder(`${this.abs(`${CONFIG_DIR}/${name}`)}/`);
    this.ix.deleteDirState(`${RELEASES_DIR}/${name}`);
    this.ix.deleteDirState(`${CONFIG_DIR}/${name}`);
    this.recordDirs([APPS_DIR, RELEASES_DIR, CONFIG_DIR]);
  }

  /**
   * Writes a new immutable file named by the next free version: the index's highest plus one,
   * skipping any file already on disk (a damaged one is never overwritten).
   */
  private writeNextVersion(
    first: number,
    rel: (v: number) => string,
    dirs: string[],
    content: (v: number) => string,
    mode: number | undefined,
    index: (v: number) => void,
  ): number {
    for (let v = first; v < first + 1000; v++) {
      const r = rel(v);
      const path = this.abs(r);
      if (existsSync(path)) continue;
      let exists = false;
      this.apply(
        { kind: 'files', files: [r], dirs },
        () => {
          ensureDir(dirname(path));
          try {
            writeFileAtomic(path, content(v), { overwrite: false, mode });
          } catch (e) {
            if (!(e instanceof FileExistsError)) throw e;
            exists = true;
          }
        },
        () => {
          if (!exists) index(v);
          else this.reindexRel(r);
        },
      );
      if (!exists) return v;
    }
    throw new ConflictError(`cannot find a free version number after v${first}`);
  }

  createRelease(input: NewRelease): Release {
    const app = checkName(input.app);
    return this.mutate(() => {
      this.requireApp(app);
      const now = this.now().toISOString();
      const build = (version: number): Release => {
        const parsed = Release.safeParse({
          ...input,
          schema_version: 1,
          app,
          version,
          status: input.status ?? 'pending',
          created_at: now,
          updated_at: now,
          finished_at: null,
          error: null,
        });
        if (!parsed.success) throw new InvalidInputError(`invalid release for ${app}: ${describeZodError(parsed.error)}`);
        return parsed.data;
      };
      const first = this.ix.maxReleaseVersion(app) + 1;
      build(first); // validate before touching anything
      const version = this.writeNextVersion(
        first,
        (v) => relRelease(app, v),
        [RELEASES_DIR, `${RELEASES_DIR}/${app}`],
        (v) => stringifyYaml(build(v)),
        undefined,
        (v) => this.ix.putRelease(build(v)),
      );
      return build(version);
    });
  }

  updateReleaseStatus(app: string, version: number, patch: ReleaseStatusPatch): Release {
    checkName(app);
    checkVersion(version, 'release');
    return this.mutate(() => {
      const rel = relRelease(app, version);
      const loaded = loadReleaseFile(this.root, app, version);
      if (!loaded.ok) {
        if (loaded.missing) throw new NotFoundError(`release v${version} of ${app} does not exist`, `see the releases with: releases ${app}`);
        this.ix.setProblem(this.abs(rel), loaded.message);
        throw new CorruptStateError(this.abs(rel), loaded.message);
      }
      const now = this.now().toISOString();
      const parsed = Release.safeParse({
        ...loaded.value,
        status: patch.status,
        error: patch.error !== undefined ? patch.error : loaded.value.error,
        finished_at: patch.finished ? now : loaded.value.finished_at,
        updated_at: now,
      });
      if (!parsed.success) throw new InvalidInputError(`invalid status change for ${app} v${version}: ${describeZodError(parsed.error)}`);
      const next = parsed.data;
      this.apply(
        { kind: 'files', files: [rel], dirs: [`${RELEASES_DIR}/${app}`] },
        () => writeFileAtomic(this.abs(rel), stringifyYaml(next)),
        () => {
          this.ix.putRelease(next);
          this.ix.clearProblem(this.abs(rel));
        },
      );
      return next;
    });
  }

  writeConfigVersion(app: string, sopsText: string, keys: string[]): number {
    checkName(app);
    const checked = checkConfigText(sopsText, app, 1);
    if (!checked.ok) throw new InvalidInputError(`the config version is not a SOPS document the store can keep: ${checked.message}`);
    const want = [...new Set(keys)].sort();
    if (want.length !== checked.value.keys.length || want.some((k, i) => k !== checked.value.keys[i])) {
      throw new InvalidInputError('the keys given do not match the keys of the SOPS document');
    }
    return this.mutate(() => {
      this.requireApp(app);
      return this.writeNextVersion(
        this.ix.maxConfigVersion(app) + 1,
        (v) => relConfig(app, v),
        [CONFIG_DIR, `${CONFIG_DIR}/${app}`],
        () => sopsText,
        SECRET_FILE_MODE,
        (v) => this.ix.putConfig({ ...checked.value, version: v }),
      );
    });
  }

  writeSecretFile(app: string, fileName: string, content: string): string {
    checkName(app);
    if (!SECRET_FILE_RE.test(fileName) || CONFIG_FILE_RE.test(fileName)) {
      throw new InvalidInputError(`invalid file name ${JSON.stringify(fileName.slice(0, 60))}: use lowercase letters, digits, . _ - (and not v<N>.sops.yaml)`);
    }
    return this.mutate(() => {
      this.requireApp(app);
      const rel = `${CONFIG_DIR}/${app}/${fileName}`;
      const path = this.abs(rel);
      this.apply(
        { kind: 'files', files: [rel], dirs: [CONFIG_DIR, `${CONFIG_DIR}/${app}`] },
        () => {
          ensureDir(dirname(path));
          writeFileAtomic(path, content, { mode: SECRET_FILE_MODE });
        },
        () => {},
      );
      return path;
    });
  }

  putApproval(approval: Approval): void {
    const parsed = Approval.safeParse(approval);
    if (!parsed.success) throw new InvalidInputError(`invalid approval: ${describeZodError(parsed.error)}`);
    const a = parsed.data;
    this.mutate(() => {
      const rel = relApproval(a.id);
      const existing = loadApprovalFile(this.root, a.id);
      if (!existing.ok && !existing.missing) throw new CorruptStateError(this.abs(rel), existing.message);
      this.writeApproval(a);
    });
  }

  private writeApproval(a: Approval): void {
    const rel = relApproval(a.id);
    this.apply(
      { kind: 'files', files: [rel], dirs: [`approvals`] },
      () => writeFileAtomic(this.abs(rel), stringifyYaml(a)),
      () => {
        this.ix.putApproval(a);
        this.ix.clearProblem(this.abs(rel));
      },
    );
  }

  decideApproval(id: string, expect: Approval['status'], patch: Partial<Approval>): Approval | null {
    if (!APPROVAL_FILE_RE.test(`${id}.yaml`)) throw new NotFoundError(`approval ${JSON.stringify(String(id).slice(0, 70))} does not exist`);
    return this.mutate(() => {
      const loaded = loadApprovalFile(this.root, id);
      if (!loaded.ok) {
        if (loaded.missing) throw new NotFoundError(`approval ${id} does not exist`);
        throw new CorruptStateError(this.abs(relApproval(id)), loaded.message);
      }
      const current = loaded.value;
      if (current.status !== expect) return null;
      const parsed = Approval.safeParse({ ...current, ...patch, id: current.id, app: current.app, schema_version: current.schema_version });
      if (!parsed.success) throw new InvalidInputError(`invalid decision for approval ${id}: ${describeZodError(parsed.error)}`);
      this.writeApproval(parsed.data);
      return parsed.data;
    });
  }

  appendAudit(input: AuditEventInputType): AuditEvent {
    const parsed = AuditEventInput.safeParse(input);
    if (!parsed.success) throw new InvalidInputError(`invalid audit event: ${describeZodError(parsed.error)}`);
    return this.mutate(() => {
      const last = this.ix.lastAudit();
      let time = this.now();
      // Audit time never goes backwards (clock steps), so month files stay in chain order.
      if (last && time.getTime() < new Date(last.time).getTime()) time = new Date(last.time);
      const iso = time.toISOString();
      const event = sealAuditEvent({
        ...parsed.data,
        seq: (last?.seq ?? 0) + 1,
        id: randomUUID(),
        time: iso,
        prev: last?.hash ?? '0'.repeat(64),
      });
      const file = auditFileForTime(iso);
      let tail = { file, size: 0 };
      this.apply(
        { kind: 'audit' },
        () => {
          tail = appendAuditLine(this.root, file, event);
        },
        () => {
          this.ix.insertAudit(event, file);
          this.ix.setAuditTail(tail);
          this.recordDirs([AUDIT_DIR]);
        },
      );
      return event;
    });
  }

  // ------------------------------------------------------------------------------------------
  // locks

  acquireAppLock(app: string, holder: string, operation: string): LockHandle {
    this.assertOpen();
    checkName(app);
    if (!holder || holder.length > 200 || !operation || operation.length > 100) throw new InvalidInputError('a lock needs a holder and an operation');
    if (!this.locks) throw new StateUnwritableError(`the state store at ${this.root} was opened read-only`);
    const locks = this.locks;
    const token = locks.withMutex(() => locks.acquire(app, holder, operation, this.now(), this.log));
    this.held.set(token, { app, token });
    let released = false;
    return {
      app,
      release: () => {
        if (released) return;
        released = true;
        this.held.delete(token);
        if (!this.closed) locks.release(app, token);
      },
    };
  }

  listLocks(): LockInfo[] {
    this.assertOpen();
    if (this.locks) return this.locks.list();
    const path = join(this.root, LOCK_DB_FILE_NAME);
    if (!existsSync(path)) return [];
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT app, holder, operation, pid, since FROM app_locks ORDER BY app').all() as LockInfo[];
      return rows.filter((r) => {
        try {
          process.kill(r.pid, 0);
          return true;
        } catch (e) {
          return (e as NodeJS.ErrnoException).code === 'EPERM';
        }
      });
    } finally {
      db.close();
    }
  }

  // ------------------------------------------------------------------------------------------
  // maintenance

  rebuildIndex(): RebuildReport {
    this.assertOpen();
    if (this.readOnly || !this.locks) throw new StateUnwritableError(`the state store at ${this.root} was opened read-only`);
    const started = performance.now();
    const counts = this.locks.withMutex(() => {
      this.ensureCurrent();
      this.recoverJournal();
      try {
        return this.rebuildHealthy();
      } catch (e) {
        if (!isCorruptDbError(e)) throw e;
        this.moveIndexAside((e as Error).message);
        return this.rebuildFresh();
      }
    });
    const report: RebuildReport = { ...counts, durationMs: performance.now() - started };
    this.log.info(
      { apps: report.apps, releases: report.releases, configVersions: report.configVersions, approvals: report.approvals, auditEvents: report.auditEvents, problems: report.problems.length, ms: Math.round(report.durationMs) },
      'index rebuilt from the state files',
    );
    return report;
  }

  close(): void {
    if (this.closed) return;
    for (const { app, token } of this.held.values()) {
      try {
        this.locks?.release(app, token);
      } catch {
        // the lock's process is about to go away; a dead holder's lock is taken over anyway
      }
    }
    this.held.clear();
    this.closed = true;
    this.detach();
    this.locks?.close();
  }
}
