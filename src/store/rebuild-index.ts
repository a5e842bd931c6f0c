/**
 * Refills the index from the state files (`pvdifyd rebuild-index`, and the store's own repair of
 * a missing, damaged or stale index). One pass over the directories, one file at a time: each
 * is read, parsed safely, checked against its schema and inserted with a prepared statement, so
 * memory stays flat however many releases there are. The caller runs this inside one
 * transaction, so other processes see the old index or the new one, never a mix.
 *
 * Files that fail are skipped and reported as problems (never rewritten); temp files left by
 * interrupted writes are deleted; a torn last audit line is truncated (both only when writing).
 */
import { readdirSync, statSync, unlinkSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/ports/clock.ts';
import type { StateProblem } from '../core/ports/store.ts';
import { isTempFileName } from './atomic-file.ts';
import { indexAllAudit, truncateTornTail } from './audit-log.ts';
import { DERIVED_TABLES, type IndexDb } from './index-db.ts';
import {
  APP_DIR_RE,
  APP_FILE_RE,
  APPROVAL_FILE_RE,
  APPROVALS_DIR,
  APPS_DIR,
  AUDIT_DIR,
  checkApprovalText,
  checkAppText,
  checkConfigText,
  checkReleaseText,
  CONFIG_DIR,
  CONFIG_FILE_RE,
  RELEASE_FILE_RE,
  RELEASES_DIR,
  SECRET_FILE_RE,
  TRACKED_TOP_DIRS,
} from './state-files.ts';
import { readStateFileText, type ValidateResult } from './yaml-io.ts';

export interface RebuildOptions {
  root: string;
  log: Logger;
  now: Date;
  /** Delete temp files and truncate a torn audit line (false for read-only stores). */
  repairFiles: boolean;
}

export interface RebuildCounts {
  apps: number;
  releases: number;
  configVersions: number;
  approvals: number;
  auditEvents: number;
  problems: StateProblem[];
}

/** Directory mtime in nanoseconds as a string, or null when it does not exist. */
export function dirMtime(abs: string): string | null {
  try {
    return statSync(abs, { bigint: true }).mtimeNs.toString();
  } catch {
    return null;
  }
}

/** Replaces every derived row with what the files say. Call inside a transaction. */
export function rebuildInto(ix: IndexDb, opts: RebuildOptions): RebuildCounts {
  const { root } = opts;
  for (const table of DERIVED_TABLES) ix.db.exec(`DELETE FROM ${table}`);
  ix.setAuditTail(null);
  const problems: StateProblem[] = [];
  const problem = (path: string, message: string): void => {
    problems.push({ path, message });
    ix.setProblem(path, message);
  };
  const counts: RebuildCounts = { apps: 0, releases: 0, configVersions: 0, approvals: 0, auditEvents: 0, problems };
  const trackedDirs: string[] = [...TRACKED_TOP_DIRS];

  /** Entries of a state dir, temp files removed (or skipped), dotfiles skipped, sorted. */
  const entries = (rel: string): Dirent[] => {
    let list: Dirent[];
    try {
      list = readdirSync(join(root, rel), { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      problem(join(root, rel), `cannot list: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
      return [];
    }
    const out: Dirent[] = [];
    for (const d of list) {
      if (isTempFileName(d.name)) {
        if (opts.repairFiles) {
          try {
            unlinkSync(join(root, rel, d.name));
            opts.log.warn({ path: join(root, rel, d.name) }, 'removed a temp file left by an interrupted write');
          } catch {
            // leave it; it is ignored either way
          }
        }
        continue;
      }
      if (d.name.startsWith('.')) continue;
      out.push(d);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  };

  const load = <T>(rel: string, check: (text: string) => ValidateResult<T>): T | null => {
    const abs = join(root, rel);
    const read = readStateFileText(abs);
    if (!read.ok) {
      problem(abs, read.message);
      return null;
    }
    const r = check(read.text);
    if (!r.ok) {
      problem(abs, r.message);
      return null;
    }
    return r.value;
  };

  // apps/<slot>.yaml
  const ports = new Map<number, string>();
  for (const d of entries(APPS_DIR)) {
    const m = APP_FILE_RE.exec(d.name);
    const rel = `${APPS_DIR}/${d.name}`;
    if (!m || !d.isFile()) {
      problem(join(root, rel), 'not an app file (apps/<name>.yaml); ignored');
      continue;
    }
    const name = m[1] as string;
    const app = load(rel, (t) => checkAppText(t, name));
    if (!app) continue;
    const taken = ix.putApp(app);
    counts.apps += 1;
    const other = ports.get(app.bind_port);
    if (other) problem(join(root, rel), `bind_port: ${app.bind_port} is also used by ${other}`);
    else ports.set(app.bind_port, name);
    for (const domain of taken) problem(join(root, rel), `domains: ${domain} is also claimed by another app; not indexed for ${name}`);
  }

  // releases/<app>/v<N>.yaml
  for (const d of entries(RELEASES_DIR)) {
    if (!d.isDirectory() || !APP_DIR_RE.test(d.name)) {
      problem(join(root, RELEASES_DIR, d.name), 'not a release directory (releases/<app>/); ignored');
      continue;
    }
    const app = d.name;
    trackedDirs.push(`${RELEASES_DIR}/${app}`);
    for (const f of entries(`${RELEASES_DIR}/${app}`)) {
      const m = RELEASE_FILE_RE.exec(f.name);
      const rel = `${RELEASES_DIR}/${app}/${f.name}`;
      if (!m || !f.isFile()) {
        problem(join(root, rel), 'not a release file (v<N>.yaml); ignored');
        continue;
      }
      const version = Number(m[1]);
      const release = load(rel, (t) => checkReleaseText(t, app, version));
      if (!release) continue;
      ix.putRelease(release);
      counts.releases += 1;
    }
  }

  // config/<app>/v<N>.sops.yaml (other files there are rendered env files: not indexed)
  for (const d of entries(CONFIG_DIR)) {
    if (!d.isDirectory() || !APP_DIR_RE.test(d.name)) {
      problem(join(root, CONFIG_DIR, d.name), 'not a config directory (config/<app>/); ignored');
      continue;
    }
    const app = d.name;
    trackedDirs.push(`${CONFIG_DIR}/${app}`);
    for (const f of entries(`${CONFIG_DIR}/${app}`)) {
      const m = CONFIG_FILE_RE.exec(f.name);
      if (!m) {
        if (!SECRET_FILE_RE.test(f.name)) problem(join(root, CONFIG_DIR, app, f.name), 'not a config file; ignored');
        continue;
      }
      const version = Number(m[1]);
      const row = load(`${CONFIG_DIR}/${app}/${f.name}`, (t) => checkConfigText(t, app, version));
      if (!row) continue;
      ix.putConfig(row);
      counts.configVersions += 1;
    }
  }

  // approvals/<id>.yaml
  for (const d of entries(APPROVALS_DIR)) {
    const m = APPROVAL_FILE_RE.exec(d.name);
    const rel = `${APPROVALS_DIR}/${d.name}`;
    if (!m || !d.isFile()) {
      problem(join(root, rel), 'not an approval file (approvals/<id>.yaml); ignored');
      continue;
    }
    const id = m[1] as string;
    const approval = load(rel, (t) => checkApprovalText(t, id));
    if (!approval) continue;
    ix.putApproval(approval);
    counts.approvals += 1;
  }

  // audit/<YYYY-MM>.jsonl
  if (opts.repairFiles) truncateTornTail(root, opts.log);
  for (const d of entries(AUDIT_DIR)) {
    if (!/^\d{4}-(0[1-9]|1[0-2])\.jsonl$/.test(d.name)) problem(join(root, AUDIT_DIR, d.name), 'not an audit month file (YYYY-MM.jsonl); ignored');
  }
  counts.auditEvents = indexAllAudit(ix, root, (p) => problem(p.path, p.message));

  // Fingerprints last, after temp files are gone, so the next open sees an unchanged tree.
  for (const rel of trackedDirs) {
    const mtime = dirMtime(join(root, rel));
    if (mtime !== null) ix.setDirState(rel, mtime);
  }
  ix.setMeta('indexed_at', opts.now.toISOString());
  return counts;
}
