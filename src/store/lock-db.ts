/**
 * Cross-process coordination, in its own small SQLite file (`pvdifyd.lock.db`) so that it
 * survives anything that happens to the index (moved aside when corrupt, rebuilt, migrated):
 *
 * - the store mutex: every mutation of the state dir runs inside `withMutex`, a `BEGIN
 *   IMMEDIATE` transaction on this file, so writers in different processes take turns;
 * - per-app locks (`deploy`, `config:set`, …) held for the length of an operation, recorded with
 *   the holder's pid and process start time so a lock whose process died is taken over.
 *
 * Nothing here is derived from the state files, so rebuilds never touch it.
 */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LockedError } from '../core/errors.ts';
import type { Logger } from '../core/ports/clock.ts';
import type { LockInfo } from '../core/ports/store.ts';
import { isCorruptDbError, unwritableDb } from './index-db.ts';

export const LOCK_DB_FILE_NAME = 'pvdifyd.lock.db';
/** How long a writer waits for another process's critical section (a full rebuild takes seconds). */
export const MUTEX_TIMEOUT_MS = 60_000;

/** Start time of a process in clock ticks since boot (Linux), to tell a reused pid from the original. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** True while the process that recorded (pid, start) is still running. */
export function isProcessAlive(pid: number, start: string | null): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (start === null) return true;
  const now = processStartTime(pid);
  return now === null || now === start;
}

const SELF_START = processStartTime(process.pid);

interface LockRow {
  app: string;
  holder: string;
  operation: string;
  pid: number;
  pid_start: string | null;
  since: string;
  token: string;
}

/** `2026-12-04T10:00:00.123Z` -> `2026-12-04T10:00:00Z` for messages. */
function shortTime(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z');
}

export class LockDb {
  private depth = 0;
  private readonly db: Database.Database;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  /** Opens (creating) the lock file; a damaged one is moved aside and recreated: it only holds live locks. */
  static open(root: string, log: Logger, now: Date): LockDb {
    const path = join(root, LOCK_DB_FILE_NAME);
    try {
      return new LockDb(LockDb.connect(path));
    } catch (e) {
      if (!isCorruptDbError(e)) throw unwritableDb(e, path);
      const aside = `${path}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
      log.warn({ path, aside, reason: (e as Error).message }, 'lock database is damaged; moving it aside and starting a new one');
      renameSync(path, aside);
      for (const ext of ['-wal', '-shm']) if (existsSync(path + ext)) renameSync(path + ext, aside + ext);
      return new LockDb(LockDb.connect(path));
    }
  }

  private static connect(path: string): Database.Database {
    const db = new Database(path, { timeout: MUTEX_TIMEOUT_MS });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(`CREATE TABLE IF NOT EXISTS app_locks (
        app TEXT PRIMARY KEY, holder TEXT NOT NULL, operation TEXT NOT NULL, pid INTEGER NOT NULL,
        pid_start TEXT, since TEXT NOT NULL, token TEXT NOT NULL)`);
      return db;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Runs `fn` as the only writer of the state dir across processes. Re-entrant within one store. */
  withMutex<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_BUSY') {
        throw new LockedError(
          `the state store is busy: another pvdify process has held its write lock for ${MUTEX_TIMEOUT_MS / 1000} s`,
          'try again in a moment; `pvdifyd rebuild-index` on a large state dir holds it for a few seconds',
        );
      }
      throw e;
    }
    this.depth = 1;
    try {
      const out = fn();
      this.db.exec('COMMIT');
      return out;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    } finally {
      this.depth = 0;
    }
  }

  /** Takes the app's lock (call inside `withMutex`); LockedError names the live holder. */
  acquire(app: string, holder: string, operation: string, now: Date, log: Logger): string {
    const row = this.db.prepare('SELECT * FROM app_locks WHERE app = ?').get(app) as LockRow | undefined;
    if (row) {
      if (isProcessAlive(row.pid, row.pid_start)) {
        throw new LockedError(
          `${app} is locked by ${row.holder} (${row.operation}) since ${shortTime(row.since)}`,
          'wait for that operation to finish, then try again',
        );
      }
      log.warn({ app, holder: row.holder, operation: row.operation, pid: row.pid, since: row.since }, 'taking over a lock whose process is gone');
    }
    const token = randomBytes(12).toString('hex');
    this.db
      .prepare('INSERT OR REPLACE INTO app_locks (app, holder, operation, pid, pid_start, since, token) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(app, holder, operation, process.pid, SELF_START, now.toISOString(), token);
    return token;
  }

  /** Drops the lock if this token still holds it (idempotent). */
  release(app: string, token: string): void {
    this.db.prepare('DELETE FROM app_locks WHERE app = ? AND token = ?').run(app, token);
  }

  /** Locks whose holders are alive, by app. */
  list(): LockInfo[] {
    const rows = this.db.prepare('SELECT * FROM app_locks ORDER BY app').all() as LockRow[];
    return rows
      .filter((r) => isProcessAlive(r.pid, r.pid_start))
      .map((r) => ({ app: r.app, holder: r.holder, operation: r.operation, pid: r.pid, since: r.since }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
