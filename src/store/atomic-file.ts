/**
 * Durable file primitives for the state dir. A reader (or a process started after a crash) sees
 * either the old file or the new one, never a mix: data goes to a temp file in the same
 * directory, is fsynced, renamed (or hard-linked, when the target must not exist yet) over the
 * target, and the directory is fsynced so the rename itself survives a power cut.
 *
 * Temp files are named `.<target>.<pid>-<n>.tmp`; `isTempFileName` recognises them so scans skip
 * them and repairs can delete them.
 */
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StateUnwritableError } from '../core/errors.ts';

/** Mode of ordinary state files (YAML, audit). */
export const FILE_MODE = 0o644;
/** Mode of files holding secrets (SOPS config versions, rendered env files). */
export const SECRET_FILE_MODE = 0o600;
export const DIR_MODE = 0o755;

const TEMP_RE = /^\..+\.\d+-\d+\.tmp$/;
let tempCounter = 0;

/** True for names `writeFileAtomic` uses for its temp files. */
export function isTempFileName(name: string): boolean {
  return TEMP_RE.test(name);
}

/** The target must not exist yet (`writeFileAtomic(…, { overwrite: false })`). */
export class FileExistsError extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists`);
  }
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a path component is not a directory',
  EISDIR: 'is a directory',
  ENOENT: 'directory does not exist',
  EEXIST: 'a file is in the way',
  EIO: 'I/O error',
  EMFILE: 'too many open files',
};

/** Maps a filesystem error to StateUnwritableError; other errors pass through. */
export function unwritable(e: unknown, action: string, path: string): Error {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code && code in REASONS) {
    return new StateUnwritableError(`cannot ${action} ${path}: ${REASONS[code]} (${code})`);
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** fsync a directory so renames, creations and removals in it are durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `dir` (and missing parents) and fsyncs each parent whose entries changed. Returns the
 * directories that were created, outermost first.
 */
export function ensureDir(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    try {
      const st = statSync(d);
      if (!st.isDirectory()) throw new StateUnwritableError(`cannot create ${dir}: ${d} is not a directory`);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e instanceof StateUnwritableError ? e : unwritable(e, 'create', dir);
      missing.unshift(d);
      if (dirname(d) === d) break;
    }
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: DIR_MODE });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw unwritable(e, 'create', d);
    }
    fsyncDir(dirname(d));
  }
  return missing;
}

export interface AtomicWriteOptions {
  mode?: number;
  /** When false, fails with FileExistsError instead of replacing an existing file. */
  overwrite?: boolean;
  /** Skip the directory fsync (only for callers that fsync the directory themselves). */
  skipDirSync?: boolean;
}

/** Writes `path` atomically and durably. Throws StateUnwritableError when the dir cannot be written. */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const mode = opts.mode ?? FILE_MODE;
  const dir = dirname(path);
  tempCounter = (tempCounter + 1) % 1_000_000_000;
  const tmp = join(dir, `.${basename(path)}.${process.pid}-${tempCounter}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', mode);
  } catch (e) {
    throw unwritable(e, 'write', path);
  }
  let placed = false;
  try {
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      // The umask may have narrowed the mode given to open(); set exactly what was asked.
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.overwrite === false) {
      try {
        linkSync(tmp, path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(path);
        throw e;
      }
      placed = true;
      unlinkSync(tmp);
    } else {
      renameSync(tmp, path);
      placed = true;
    }
    if (!opts.skipDirSync) fsyncDir(dir);
  } catch (e) {
    if (!placed || opts.overwrite === false) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone (renamed) or the dir is unwritable: a later scan removes it
      }
    }
    if (e instanceof FileExistsError) throw e;
    throw unwritable(e, 'write', path);
  }
}

/**
 * Appends `data` with one write() on an O_APPEND descriptor and fsyncs it (and the directory,
 * when the file is new). Returns the file's size before the append.
 */
export function appendFileDurable(path: string, data: string, mode = FILE_MODE): number {
  let fd: number;
  let created = false;
  try {
    try {
      fd = openSync(path, 'wx', mode);
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      fd = openSync(path, 'a');
    }
  } catch (e) {
    throw unwritable(e, 'append to', path);
  }
  try {
    const before = created ? 0 : statSync(path).size;
    const buf = Buffer.from(data, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    if (created) fsyncDir(dirname(path));
    return before;
  } catch (e) {
    throw unwritable(e, 'append to', path);
  } finally {
    closeSync(fd);
  }
}

/** Removes a file (missing is fine) and fsyncs its directory. */
export function removeFileDurable(path: string): boolean {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw unwritable(e, 'remove', path);
  }
  fsyncDir(dirname(path));
  return true;
}

/** Removes a directory tree (missing is fine) and fsyncs its parent. */
export function removeTreeDurable(dir: string): boolean {
  try {
    statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw unwritable(e, 'remove', dir);
  }
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (e) {
    throw unwritable(e, 'remove', dir);
  }
  fsyncDir(dirname(dir));
  return true;
}

/** Deletes temp files left in `dir` by interrupted writes (all of them, or those for `target`). */
export function removeTempFiles(dir: string, target?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const prefix = target === undefined ? null : `.${target}.`;
  for (const name of names) {
    if (!isTempFileName(name)) continue;
    if (prefix !== null && !name.startsWith(prefix)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // unwritable dir: the scan ignores temp files anyway
    }
  }
  return removed;
}
