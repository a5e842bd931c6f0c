/**
 * Atomic file replacement for what the adapters generate (caddy.json, the tunnel YAML, unit
 * files): write a temp file in the same directory, fsync it, optionally let the caller check it,
 * rename it over the target, fsync the directory. A reader sees the old file or the new one,
 * never a torn one. (The store's own writer, src/store/atomic-file.ts, is synchronous because it
 * runs inside the index transaction; this one serves the async adapters.)
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StateUnwritableError } from '../core/errors.ts';

export interface AtomicWriteOptions {
  mode?: number;
  /** Runs on the fsynced temp file before the rename; a throw leaves the target untouched. */
  beforeCommit?: (tempPath: string) => Promise<void>;
  /** What to do when the directory cannot be written (default: the state dir's hint). */
  unwritableHint?: string;
}

let tempCounter = 0;

/** Temp names follow src/store/atomic-file.ts (`.<target>.<pid>-<n>.tmp`) so its repair scan knows them. */
export async function writeFileAtomic(path: string, data: string, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}-${++tempCounter}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(temp, 'wx', opts.mode ?? 0o644);
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    await rm(temp, { force: true });
    throw new StateUnwritableError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, opts.unwritableHint);
  }
  if (opts.beforeCommit) {
    try {
      await opts.beforeCommit(temp);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
  }
  try {
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw new StateUnwritableError(`cannot replace ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, opts.unwritableHint);
  }
  // Without the directory fsync the rename itself may not survive a power loss.
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
