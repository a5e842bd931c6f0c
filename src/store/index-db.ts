/**
 * The SQLite index (`pvdifyd.db`): a derived, rebuildable copy of the state files that answers
 * queries without touching YAML. The seed's tables (`apps`, `releases`, `domains`) keep exactly
 * the seed's columns, followed by a `doc` column holding the full record as JSON; the other
 * tables hold config versions, approvals, audit events and the repair bookkeeping (`journal`
 * of in-flight writes, `dir_state` fingerprints, `problems`, `meta`).
 *
 * Versioned migrations: `schema_migrations(version, applied_at)` and the ordered `MIGRATIONS`
 * list. An older index is migrated on open (a migration that changes derived data asks for a
 * rebuild from the files); an index from a newer pvdify is refused; a file that is not a database,
 * is malformed, or has tables we do not recognise is reported as unusable so the store can move
 * it aside and rebuild.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { CorruptStateError, StateUnwritableError } from '../core/errors.ts';
import type { AppSlot, Approval, AuditEvent, Release } from '../core/model.ts';
import type { AuditQuery, ConfigVersionRow, DomainRow, StateProblem } from '../core/ports/store.ts';

export const INDEX_FILE_NAME = 'pvdifyd.db';
/** How long a connection waits for another process's write transaction. */
export const INDEX_BUSY_TIMEOUT_MS = 30_000;

type Db = Database.Database;

export interface Migration {
  version: number;
  description: string;
  /** True when the migration changes derived data: the index is refilled from the files after it. */
  requiresRebuild: boolean;
  up(db: Db): void;
}

/** The seed's three tables, column for column (seed/000: "SQLite Database"). */
const SEED_TABLES_SQL = `
CREATE TABLE IF NOT EXISTS apps (
  name TEXT PRIMARY KEY,
  environment TEXT NOT NULL,
  status TEXT NOT NULL,
  image TEXT,
  bind_port INTEGER,
  created_at DATETIME,
  updated_at DATETIME
);
CREATE TABLE IF NOT EXISTS releases (
  id INTEGER PRIMARY KEY,
  app_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  image TEXT NOT NULL,
  config_version TEXT,
  status TEXT NOT NULL,
  created_at DATETIME,
  created_by TEXT,
  UNIQUE(app_name, version)
);
CREATE TABLE IF NOT EXISTS domains (
  domain TEXT PRIMARY KEY,
  app_name TEXT NOT NULL,
  status TEXT NOT NULL,
  cf_record_id TEXT,
  created_at DATETIME
);`;

const V2_SQL = `
ALTER TABLE apps ADD COLUMN doc TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN doc TEXT NOT NULL DEFAULT '';
CREATE INDEX apps_bind_port ON apps(bind_port);
CREATE INDEX domains_app ON domains(app_name);
CREATE TABLE config_versions (
  app_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  keys TEXT NOT NULL,
  created_at DATETIME,
  PRIMARY KEY (app_name, version)
) WITHOUT ROWID;
CREATE TABLE approvals (
  id TEXT PRIMARY KEY,
  app_name TEXT NOT NULL,
  status TEXT NOT NULL,
  requested_at DATETIME,
  doc TEXT NOT NULL
);
CREATE INDEX approvals_app ON approvals(app_name, requested_at);
CREATE INDEX approvals_status ON approvals(status, requested_at);
CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  time DATETIME NOT NULL,
  app TEXT,
  actor_id TEXT NOT NULL,
  actor_name_lc TEXT NOT NULL,
  hash TEXT NOT NULL,
  file TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX audit_app ON audit_events(app, seq);
CREATE INDEX audit_actor ON audit_events(actor_id, seq);
CREATE INDEX audit_actor_name ON audit_events(actor_name_lc, seq);
CREATE INDEX audit_time ON audit_events(time);
CREATE TABLE problems (path TEXT PRIMARY KEY, message TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE journal (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, intent TEXT NOT NULL, created_at DATETIME NOT NULL);
CREATE TABLE dir_state (path TEXT PRIMARY KEY, mtime_ns TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;`;

/** Ordered; append new migrations, never edit an applied one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: "the seed's apps, releases and domains tables", requiresRebuild: true, up: (db) => db.exec(SEED_TABLES_SQL) },
  {
    version: 2,
    description: 'record documents, config versions, approvals, audit events and repair bookkeeping',
    requiresRebuild: true,
    up: (db) => db.exec(V2_SQL),
  },
];
export const LATEST_INDEX_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/** Tables rebuilt from files (everything except bookkeeping that is not derived). */
export const DERIVED_TABLES = ['apps', 'releases', 'domains', 'config_versions', 'approvals', 'audit_events', 'problems', 'dir_state'] as const;

/** The index was written by a newer pvdify: refusing to touch it protects that version's data. */
export class IndexTooNewError extends CorruptStateError {
  constructor(path: string, found: number) {
    super(
      path,
      `index schema version ${found} is newer than this pvdify supports (${LATEST_INDEX_VERSION})`,
      'upgrade pvdify, or move pvdifyd.db aside and run `pvdifyd rebuild-index` to recreate it from the files',
    );
  }
}

const SEED_COLUMNS: Record<string, string> = {
  apps: 'name TEXT pk,environment TEXT nn,status TEXT nn,image TEXT,bind_port INTEGER,created_at DATETIME,updated_at DATETIME',
  releases: 'id INTEGER pk,app_name TEXT nn,version INTEGER nn,image TEXT nn,config_version TEXT,status TEXT nn,created_at DATETIME,created_by TEXT',
  domains: 'domain TEXT pk,app_name TEXT nn,status TEXT nn,cf_record_id TEXT,created_at DATETIME',
};

function describeColumns(db: Db, table: string): string {
  const cols = db.prepare(`SELECT name, type, "notnull" AS nn, pk FROM pragma_table_info(?) ORDER BY cid`).all(table) as Array<{
    name: string;
    type: string;
    nn: number;
    pk: number;
  }>;
  return cols.map((c) => `${c.name} ${c.type.toUpperCase()}${c.pk ? ' pk' : ''}${c.nn ? ' nn' : ''}`).join(',');
}

function tableNames(db: Db): string[] {
  return (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as Array<{ name: string }>).map(
    (r) => r.name,
  );
}

let expectedSchema: Map<string, string> | null = null;
/** Table -> column description of a freshly migrated index (computed once, in memory). */
function expected(): Map<string, string> {
  if (expectedSchema) return expectedSchema;
  const db = new Database(':memory:');
  try {
    migrate(db, 0, '1970-01-01T00:00:00.000Z');
    expectedSchema = new Map(tableNames(db).map((t) => [t, describeColumns(db, t)]));
  } finally {
    db.close();
  }
  return expectedSchema;
}

/** Applies every migration after `from`, each recorded in schema_migrations; returns whether a rebuild is needed. */
export function migrate(db: Db, from: number, now: string): boolean {
  let rebuild = false;
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at DATETIME NOT NULL)');
  const record = db.prepare('INSERT OR REPLACE INTO schema_migrations (version, applied_at) VALUES (?, ?)');
  // A seed-created db has the version-1 tables but no record of them: adopt them.
  for (const m of MIGRATIONS) if (m.version <= from && !db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version)) record.run(m.version, now);
  for (const m of MIGRATIONS) {
    if (m.version <= from) continue;
    m.up(db);
    record.run(m.version, now);
    rebuild ||= m.requiresRebuild;
  }
  return rebuild;
}

/** The schema version of an open index: 0 for an empty file, 1 for a seed-only db without schema_migrations, null when unrecognisable. */
export function schemaVersion(db: Db): number | null {
  const tables = tableNames(db);
  if (tables.includes('schema_migrations')) {
    const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    return row.v ?? 0;
  }
  if (tables.length === 0) return 0;
  // A db created by the seed's DDL: exactly its three tables and columns.
  const seedOnly = tables.every((t) => t in SEED_COLUMNS) && tables.length === 3;
  if (seedOnly && tables.every((t) => describeColumns(db, t) === SEED_COLUMNS[t])) return 1;
  return null;
}

/** Differences between the open index and what the migrations produce, or null when they match. */
export function schemaMismatch(db: Db): string | null {
  const want = expected();
  const have = new Map(tableNames(db).map((t) => [t, describeColumns(db, t)]));
  for (const [table, cols] of want) {
    const got = have.get(table);
    if (got === undefined) return `table ${table} is missing`;
    if (got !== cols) return `table ${table} has columns (${got}), expected (${cols})`;
  }
  for (const table of have.keys()) if (!want.has(table)) return `unexpected table ${table}`;
  return null;
}

const CORRUPT_CODES = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_INDEX']);

/** True for errors that mean the database file itself is damaged. */
export function isCorruptDbError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CORRUPT_CODES.has(code);
}

function isUnwritableDbError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(READONLY|CANTOPEN|PERM|IOERR|FULL)/.test(code);
}

export function unwritableDb(e: unknown, path: string): Error {
  if (isUnwritableDbError(e)) {
    const code = (e as { code: string }).code;
    return new StateUnwritableError(`cannot write the index ${path}: ${(e as Error).message} (${code})`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** WAL for concurrent readers; NORMAL sync is safe in WAL mode (see DESIGN: the files are the truth). */
export function configureConnection(db: Db, readOnly: boolean): void {
  if (!readOnly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma(`busy_timeout = ${INDEX_BUSY_TIMEOUT_MS}`);
}

export type OpenedIndex =
  | { status: 'ok'; db: Db; migratedFrom: number | null; needsRebuild: boolean }
  | { status: 'missing' }
  | { status: 'unusable'; reason: string };

/**
 * Opens `path` and brings it to the latest schema. Never throws for a damaged file (returns
 * `unusable` so the caller can move it aside); throws IndexTooNewError for a newer schema and
 * StateUnwritableError when the file cannot be opened or written.
 */
export function openIndex(path: string, opts: { readOnly: boolean; now: string }): OpenedIndex {
  if (!existsSync(path)) return { status: 'missing' };
  let db: Db;
  try {
    db = new Database(path, { readonly: opts.readOnly, fileMustExist: true, timeout: INDEX_BUSY_TIMEOUT_MS });
  } catch (e) {
    if (isCorruptDbError(e)) return { status: 'unusable', reason: (e as Error).message };
    throw unwritableDb(e, path);
  }
  const fail = (reason: string): OpenedIndex => {
    db.close();
    return { status: 'unusable', reason };
  };
  try {
    configureConnection(db, opts.readOnly);
    const version = schemaVersion(db);
    if (version === null) return fail(`unknown schema (tables: ${tableNames(db).join(', ') || 'none'})`);
    if (version > LATEST_INDEX_VERSION) {
      db.close();
      throw new IndexTooNewError(path, version);
    }
    let migratedFrom: number | null = null;
    let needsRebuild = false;
    if (version < LATEST_INDEX_VERSION) {
      if (opts.readOnly) return fail(`schema version ${version} needs migrating, which a read-only store cannot do`);
      db.exec('BEGIN IMMEDIATE');
      try {
        needsRebuild = migrate(db, version, opts.now);
        db.exec('COMMIT');
      } catch (e) {
        db.exec('ROLLBACK');
        throw e;
      }
      migratedFrom = version;
    }
    const mismatch = schemaMismatch(db);
    if (mismatch) return fail(`unknown schema: ${mismatch}`);
    const indexed = db.prepare(`SELECT value FROM meta WHERE key = 'indexed_at'`).get();
    if (!indexed) needsRebuild = true;
    return { status: 'ok', db, migratedFrom, needsRebuild };
  } catch (e) {
    if (e instanceof IndexTooNewError) throw e;
    if (isCorruptDbError(e)) return fail((e as Error).message);
    if (db.open) db.close();
    throw unwritableDb(e, path);
  }
}

/** Creates an empty index at the latest schema, tuned for one bulk load (no journal, no fsync until `finishBulkIndex`). */
export function createBulkIndex(path: string, now: string): Db {
  const db = new Database(path, { timeout: INDEX_BUSY_TIMEOUT_MS });
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  migrate(db, 0, now);
  return db;
}

/** Switches a bulk-loaded index to WAL and closes it, leaving a complete file for rename. */
export function finishBulkIndex(db: Db): void {
  db.pragma('journal_mode = WAL');
  db.close();
}

// --------------------------------------------------------------------------------------------
// Row access

export interface JournalRow {
  id: number;
  pid: number;
  intent: string;
}

export interface AuditTail {
  /** Month file name of the newest indexed line. */
  file: string;
  /** Size of that file when it was last indexed. */
  size: number;
}

/** Prepared statements over one connection; `doc` columns hold the zod-parsed record as JSON. */
export class IndexDb {
  private readonly cache = new Map<string, Database.Statement>();
  constructor(readonly db: Db) {}

  stmt(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE). */
  tx<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    }
  }

  // --- apps and domains ---

  /** Upserts the app and replaces its domains rows; returns domains another app already holds. */
  putApp(app: AppSlot): string[] {
    this.stmt(
      `INSERT INTO apps (name, environment, status, image, bind_port, created_at, updated_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(name) DO UPDATE SET environment = excluded.environment, status = excluded.status, image = excluded.image,
         bind_port = excluded.bind_port, created_at = excluded.created_at, updated_at = excluded.updated_at, doc = excluded.doc`,
    ).run(app.name, app.environment, app.status, app.image, app.bind_port, app.created_at, app.updated_at, JSON.stringify(app));
    this.stmt('DELETE FROM domains WHERE app_name = ?').run(app.name);
    const insert = this.stmt('INSERT OR IGNORE INTO domains (domain, app_name, status, cf_record_id, created_at) VALUES (?, ?, ?, ?, ?)');
    const taken: string[] = [];
    for (const d of domainRowsOf(app)) {
      if (insert.run(d.domain, d.app_name, d.status, d.cf_record_id, d.created_at).changes === 0) taken.push(d.domain);
    }
    return taken;
  }

  deleteApp(name: string): void {
    this.stmt('DELETE FROM apps WHERE name = ?').run(name);
    this.stmt('DELETE FROM domains WHERE app_name = ?').run(name);
  }

  getApp(name: string): AppSlot | null {
    const row = this.stmt('SELECT doc FROM apps WHERE name = ?').get(name) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as AppSlot) : null;
  }

  listApps(): AppSlot[] {
    return (this.stmt('SELECT doc FROM apps ORDER BY name').all() as Array<{ doc: string }>).map((r) => JSON.parse(r.doc) as AppSlot);
  }

  usedPorts(): number[] {
    return (this.stmt('SELECT bind_port FROM apps WHERE bind_port IS NOT NULL ORDER BY bind_port').all() as Array<{ bind_port: number }>).map(
      (r) => r.bind_port,
    );
  }

  portOwner(port: number, except: string): string | null {
    const row = this.stmt('SELECT name FROM apps WHERE bind_port = ? AND name != ? LIMIT 1').get(port, except) as { name: string } | undefined;
    return row?.name ?? null;
  }

  listDomains(app?: string): DomainRow[] {
    return (
      app === undefined
        ? this.stmt('SELECT domain, app_name, status, cf_record_id, created_at FROM domains ORDER BY domain').all()
        : this.stmt('SELECT domain, app_name, status, cf_record_id, created_at FROM domains WHERE app_name = ? ORDER BY domain').all(app)
    ) as DomainRow[];
  }

  findDomain(domain: string): DomainRow | null {
    return (this.stmt('SELECT domain, app_name, status, cf_record_id, created_at FROM domains WHERE domain = ?').get(domain) as DomainRow | undefined) ?? null;
  }

  // --- releases ---

  putRelease(r: Release): void {
    this.stmt(
      `INSERT INTO releases (app_name, version, image, config_version, status, created_at, created_by, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(app_name, version) DO UPDATE SET image = excluded.image, config_version = excluded.config_version,
         status = excluded.status, created_at = excluded.created_at, created_by = excluded.created_by, doc = excluded.doc`,
    ).run(r.app, r.version, r.image, r.config_version === null ? null : String(r.config_version), r.status, r.created_at, r.created_by, JSON.stringify(r));
  }

  deleteRelease(app: string, version: number): void {
    this.stmt('DELETE FROM releases WHERE app_name = ? AND version = ?').run(app, version);
  }

  getRelease(app: string, version: number): Release | null {
    const row = this.stmt('SELECT doc FROM releases WHERE app_name = ? AND version = ?').get(app, version) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Release) : null;
  }

  listReleases(app: string, limit: number): Release[] {
    return (this.stmt('SELECT doc FROM releases WHERE app_name = ? ORDER BY version DESC LIMIT ?').all(app, limit) as Array<{ doc: string }>).map(
      (r) => JSON.parse(r.doc) as Release,
    );
  }

  maxReleaseVersion(app: string): number {
    return (this.stmt('SELECT MAX(version) AS v FROM releases WHERE app_name = ?').get(app) as { v: number | null }).v ?? 0;
  }

  // --- config versions ---

  putConfig(c: ConfigVersionRow): void {
    this.stmt('INSERT OR REPLACE INTO config_versions (app_name, version, keys, created_at) VALUES (?, ?, ?, ?)').run(
      c.app_name,
      c.version,
      JSON.stringify(c.keys),
      c.created_at,
    );
  }

  deleteConfig(app: string, version: number): void {
    this.stmt('DELETE FROM config_versions WHERE app_name = ? AND version = ?').run(app, version);
  }

  listConfigVersions(app: string): ConfigVersionRow[] {
    return (
      this.stmt('SELECT app_name, version, keys, created_at FROM config_versions WHERE app_name = ? ORDER BY version DESC').all(app) as Array<
        Omit<ConfigVersionRow, 'keys'> & { keys: string }
      >
    ).map((r) => ({ ...r, keys: JSON.parse(r.keys) as string[] }));
  }

  maxConfigVersion(app: string): number {
    return (this.stmt('SELECT MAX(version) AS v FROM config_versions WHERE app_name = ?').get(app) as { v: number | null }).v ?? 0;
  }

  // --- approvals ---

  putApproval(a: Approval): void {
    this.stmt('INSERT OR REPLACE INTO approvals (id, app_name, status, requested_at, doc) VALUES (?, ?, ?, ?, ?)').run(
      a.id,
      a.app,
      a.status,
      a.requested_at,
      JSON.stringify(a),
    );
  }

  deleteApproval(id: string): void {
    this.stmt('DELETE FROM approvals WHERE id = ?').run(id);
  }

  getApproval(id: string): Approval | null {
    const row = this.stmt('SELECT doc FROM approvals WHERE id = ?').get(id) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as Approval) : null;
  }

  listApprovals(filter: { app?: string; status?: string }): Approval[] {
    const rows = this.stmt(
      `SELECT doc FROM approvals WHERE (@app IS NULL OR app_name = @app) AND (@status IS NULL OR status = @status)
       ORDER BY requested_at DESC, id`,
    ).all({ app: filter.app ?? null, status: filter.status ?? null }) as Array<{ doc: string }>;
    return rows.map((r) => JSON.parse(r.doc) as Approval);
  }

  // --- audit ---

  insertAudit(e: AuditEvent, file: string): boolean {
    return (
      this.stmt(
        `INSERT OR IGNORE INTO audit_events (seq, id, time, app, actor_id, actor_name_lc, hash, file, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(e.seq, e.id, new Date(e.time).toISOString(), e.app, e.actor_id, e.actor_name.toLowerCase(), e.hash, file, JSON.stringify(e)).changes === 1
    );
  }

  lastAudit(): { seq: number; hash: string; time: string; file: string } | null {
    return (
      (this.stmt('SELECT seq, hash, time, file FROM audit_events ORDER BY seq DESC LIMIT 1').get() as
        | { seq: number; hash: string; time: string; file: string }
        | undefined) ?? null
    );
  }

  queryAudit(q: AuditQuery & { sinceIso?: string }): AuditEvent[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: q.limit ?? 50 };
    if (q.app !== undefined) {
      where.push('app = @app');
      params.app = q.app;
    }
    if (q.user !== undefined) {
      where.push('(actor_id = @user OR actor_name_lc = @userLc)');
      params.user = q.user;
      params.userLc = q.user.toLowerCase();
    }
    if (q.sinceIso !== undefined) {
      where.push('time >= @since');
      params.since = q.sinceIso;
    }
    const sql = `SELECT doc FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`;
    return (this.stmt(sql).all(params) as Array<{ doc: string }>).map((r) => JSON.parse(r.doc) as AuditEvent);
  }

  deleteAuditFrom(seq: number): void {
    this.stmt('DELETE FROM audit_events WHERE seq >= ?').run(seq);
  }

  // --- problems, fingerprints, journal, meta ---

  setProblem(path: string, message: string): void {
    this.stmt('INSERT OR REPLACE INTO problems (path, message) VALUES (?, ?)').run(path, message);
  }

  clearProblem(path: string): void {
    this.stmt('DELETE FROM problems WHERE path = ?').run(path);
  }

  clearProblemsUnder(prefix: string): void {
    this.stmt("DELETE FROM problems WHERE substr(path, 1, length(?)) = ?").run(prefix, prefix);
  }

  problems(): StateProblem[] {
    return this.stmt('SELECT path, message FROM problems ORDER BY path').all() as StateProblem[];
  }

  problemAt(path: string): string | null {
    return (this.stmt('SELECT message FROM problems WHERE path = ?').get(path) as { message: string } | undefined)?.message ?? null;
  }

  setDirState(rel: string, mtimeNs: string): void {
    this.stmt('INSERT OR REPLACE INTO dir_state (path, mtime_ns) VALUES (?, ?)').run(rel, mtimeNs);
  }

  deleteDirState(rel: string): void {
    this.stmt('DELETE FROM dir_state WHERE path = ?').run(rel);
  }

  dirStates(): Array<{ path: string; mtime_ns: string }> {
    return this.stmt('SELECT path, mtime_ns FROM dir_state').all() as Array<{ path: string; mtime_ns: string }>;
  }

  addJournal(pid: number, intent: string, now: string): number {
    return Number(this.stmt('INSERT INTO journal (pid, intent, created_at) VALUES (?, ?, ?)').run(pid, intent, now).lastInsertRowid);
  }

  deleteJournal(id: number): void {
    this.stmt('DELETE FROM journal WHERE id = ?').run(id);
  }

  journal(): JournalRow[] {
    return this.stmt('SELECT id, pid, intent FROM journal ORDER BY id').all() as JournalRow[];
  }

  getMeta(key: string): string | null {
    return (this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.stmt('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
  }

  deleteMeta(key: string): void {
    this.stmt('DELETE FROM meta WHERE key = ?').run(key);
  }

  auditTail(): AuditTail | null {
    const v = this.getMeta('audit_tail');
    return v ? (JSON.parse(v) as AuditTail) : null;
  }

  setAuditTail(tail: AuditTail | null): void {
    if (tail) this.setMeta('audit_tail', JSON.stringify(tail));
    else this.deleteMeta('audit_tail');
  }
}

/** The seed's domains rows for an app: one per entry of `domains`, with its edge state. */
export function domainRowsOf(app: AppSlot): DomainRow[] {
  return app.domains.map((domain) => {
    const route = app.domain_routes[domain];
    return {
      domain,
      app_name: app.name,
      status: route?.status ?? 'pending',
      cf_record_id: route?.cf_record_id ?? null,
      created_at: route?.created_at ?? app.updated_at,
    };
  });
}
