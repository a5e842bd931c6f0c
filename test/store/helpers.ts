/**
 * Shared helpers for the store tests: real temp state dirs, a controllable clock, a logger that
 * records warnings, sample inputs, and `snapshotStore`, which captures every read method's answer
 * so tests can compare an index before and after a rebuild or a crash.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Clock, Logger } from '../../src/core/ports/clock.ts';
import type { NewRelease, StateStore } from '../../src/core/ports/store.ts';
import { isTempFileName } from '../../src/store/atomic-file.ts';
import { openStateStore, type OpenStateStoreOptions } from '../../src/store/state-store.ts';

/** A fresh temp dir removed after the test. */
export function tempDir(t: TestContext, prefix = 'pvdify-store-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface ManualClock extends Clock {
  set(iso: string): void;
  advance(ms: number): void;
}

export function manualClock(start = '2026-01-05T10:00:00.000Z'): ManualClock {
  let now = Date.parse(start);
  return {
    now: () => new Date(now),
    set: (iso) => {
      now = Date.parse(iso);
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object | string;
  msg: string | undefined;
}

export interface RecordingLogger extends Logger {
  entries: LogEntry[];
  warnings(): string[];
}

export function recordingLogger(): RecordingLogger {
  const entries: LogEntry[] = [];
  const log: RecordingLogger = {
    entries,
    debug: (obj, msg) => void entries.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => void entries.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => void entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => void entries.push({ level: 'error', obj, msg }),
    child: () => log,
    warnings: () => entries.filter((e) => e.level === 'warn').map((e) => e.msg ?? String(e.obj)),
  };
  return log;
}

/** Opens a store on `root`, closed after the test. */
export function openTestStore(
  t: TestContext,
  root: string,
  extra: Partial<OpenStateStoreOptions> = {},
): { store: StateStore; clock: ManualClock; log: RecordingLogger } {
  const clock = (extra.clock as ManualClock | undefined) ?? manualClock();
  const log = (extra.log as RecordingLogger | undefined) ?? recordingLogger();
  const store = openStateStore({ root, clock, log, ...extra });
  t.after(() => store.close());
  return { store, clock, log };
}

export function newRelease(app: string, overrides: Partial<NewRelease> = {}): NewRelease {
  return {
    app,
    kind: 'deploy',
    image: `ghcr.io/org/${app}:v1.2.3`,
    config_version: null,
    description: 'Deploy ghcr.io/org/app:v1.2.3',
    source: 'cli',
    created_by: 'cli:alice',
    created_by_name: 'alice',
    approved_by: null,
    rollback_of: null,
    ...overrides,
  };
}

/** A SOPS-shaped document (values are opaque to the store). */
export function sopsDoc(keys: string[], lastmodified = '2026-01-05T10:30:00Z'): string {
  const values = keys.map((k) => `${k}: ENC[AES256_GCM,data:c2VjcmV0,iv:aXY=,tag:dGFn,type:str]\n`).join('');
  return `${values}sops:\n    lastmodified: "${lastmodified}"\n    mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]\n    version: 3.10.2\n`;
}

/** Every read method's answer; `apps` extra names are queried even when no app file exists. */
export function snapshotStore(store: StateStore, extraApps: string[] = []) {
  const apps = store.listApps();
  const names = [...new Set([...apps.map((a) => a.name), ...extraApps])].sort();
  return {
    apps,
    perApp: names.map((name) => ({
      name,
      app: store.getApp(name),
      releases: store.listReleases(name),
      latest: store.listReleases(name, 1),
      firstRelease: store.getRelease(name, 1),
      configVersions: store.listConfigVersions(name),
      domains: store.listDomains(name),
      approvals: store.listApprovals({ app: name }),
      audit: store.queryAudit({ app: name, limit: 1_000_000 }),
    })),
    domains: store.listDomains(),
    approvals: store.listApprovals(),
    pending: store.listApprovals({ status: 'pending' }),
    audit: store.queryAudit({ limit: 1_000_000 }),
    problems: store.problems(),
  };
}

/** Temp files (from interrupted writes) anywhere under `root`. */
export function findTempFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (isTempFileName(name)) out.push(p);
    }
  };
  walk(root);
  return out;
}
