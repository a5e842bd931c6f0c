/**
 * Where each kind of record lives in the state dir and how one file is loaded and checked.
 * Recovery, rebuild and read-modify-write all load through here, so a file is judged the same
 * way everywhere: parsed safely, checked against its zod schema, and checked against its own
 * path (a release in `releases/a/v3.yaml` must say `app: a`, `version: 3`).
 */
import { join } from 'node:path';
import { z } from 'zod';
import { AppSlot, Approval, Release, Timestamp } from '../core/model.ts';
import type { ConfigVersionRow } from '../core/ports/store.ts';
import { parseYamlWith, readStateFileText, type ValidateResult } from './yaml-io.ts';

export const APPS_DIR = 'apps';
export const RELEASES_DIR = 'releases';
export const CONFIG_DIR = 'config';
export const APPROVALS_DIR = 'approvals';
export const AUDIT_DIR = 'audit';
/** Directories the store creates and whose changes it tracks. */
export const TRACKED_TOP_DIRS = [APPS_DIR, RELEASES_DIR, CONFIG_DIR, APPROVALS_DIR, AUDIT_DIR] as const;

export const APP_FILE_RE = /^([a-z][a-z0-9-]{0,39})\.yaml$/;
export const RELEASE_FILE_RE = /^v([1-9][0-9]{0,8})\.yaml$/;
export const CONFIG_FILE_RE = /^v([1-9][0-9]{0,8})\.sops\.yaml$/;
export const APPROVAL_FILE_RE = /^([a-z0-9-]{6,64})\.yaml$/;
export const APP_DIR_RE = /^[a-z][a-z0-9-]{0,39}$/;
/** Other files the store writes into `config/<app>/` (rendered env files). */
export const SECRET_FILE_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export const relApp = (name: string): string => `${APPS_DIR}/${name}.yaml`;
export const relRelease = (app: string, version: number): string => `${RELEASES_DIR}/${app}/v${version}.yaml`;
export const relConfig = (app: string, version: number): string => `${CONFIG_DIR}/${app}/v${version}.sops.yaml`;
export const relApproval = (id: string): string => `${APPROVALS_DIR}/${id}.yaml`;

/** What a relative path in the state dir refers to. */
export type StateRef =
  | { kind: 'app'; name: string }
  | { kind: 'release'; app: string; version: number }
  | { kind: 'config'; app: string; version: number }
  | { kind: 'secret'; app: string; file: string }
  | { kind: 'approval'; id: string };

export function classifyRel(rel: string): StateRef | null {
  const parts = rel.split('/');
  if (parts.length === 2) {
    const [dir, file] = parts as [string, string];
    const app = APP_FILE_RE.exec(file);
    if (dir === APPS_DIR && app) return { kind: 'app', name: app[1] as string };
    const appr = APPROVAL_FILE_RE.exec(file);
    if (dir === APPROVALS_DIR && appr) return { kind: 'approval', id: appr[1] as string };
    return null;
  }
  if (parts.length === 3) {
    const [dir, app, file] = parts as [string, string, string];
    if (!APP_DIR_RE.test(app)) return null;
    const rel = RELEASE_FILE_RE.exec(file);
    if (dir === RELEASES_DIR && rel) return { kind: 'release', app, version: Number(rel[1]) };
    const cfg = CONFIG_FILE_RE.exec(file);
    if (dir === CONFIG_DIR && cfg) return { kind: 'config', app, version: Number(cfg[1]) };
    if (dir === CONFIG_DIR && SECRET_FILE_RE.test(file)) return { kind: 'secret', app, file };
  }
  return null;
}

/** A loaded file, or why it could not be used (`missing` when it does not exist). */
export type Loaded<T> = { ok: true; value: T } | { ok: false; missing: boolean; message: string };

function load<T>(root: string, rel: string, check: (text: string) => ValidateResult<T>): Loaded<T> {
  const read = readStateFileText(join(root, rel));
  if (!read.ok) return read;
  const r = check(read.text);
  return r.ok ? r : { ok: false, missing: false, message: r.message };
}

export function checkAppText(text: string, name: string): ValidateResult<AppSlot> {
  const r = parseYamlWith(text, AppSlot);
  if (r.ok && r.value.name !== name) return { ok: false, message: `name: is ${JSON.stringify(r.value.name)} but the file is for ${name}` };
  return r;
}

export function checkReleaseText(text: string, app: string, version: number): ValidateResult<Release> {
  const r = parseYamlWith(text, Release);
  if (!r.ok) return r;
  if (r.value.app !== app) return { ok: false, message: `app: is ${JSON.stringify(r.value.app)} but the file is under releases/${app}` };
  if (r.value.version !== version) return { ok: false, message: `version: is ${r.value.version} but the file is v${version}.yaml` };
  return r;
}

export function checkApprovalText(text: string, id: string): ValidateResult<Approval> {
  const r = parseYamlWith(text, Approval);
  if (r.ok && r.value.id !== id) return { ok: false, message: `id: is ${JSON.stringify(r.value.id)} but the file is ${id}.yaml` };
  return r;
}

/**
 * What the store needs from a SOPS document: a mapping with a `sops` section that has a MAC and
 * `lastmodified`. Values stay encrypted; decrypting and verifying the MAC is the vault's job.
 */
const SopsDocument = z.looseObject({
  sops: z.looseObject({ lastmodified: Timestamp, mac: z.string().min(1) }),
});

/** The index row of a config version: its keys (top-level, without `sops`) and `lastmodified`. */
export function checkConfigText(text: string, app: string, version: number): ValidateResult<ConfigVersionRow> {
  const r = parseYamlWith(text, SopsDocument);
  if (!r.ok) return r;
  const keys = Object.keys(r.value)
    .filter((k) => k !== 'sops')
    .sort();
  return { ok: true, value: { app_name: app, version, keys, created_at: r.value.sops.lastmodified } };
}

export const loadAppFile = (root: string, name: string): Loaded<AppSlot> => load(root, relApp(name), (t) => checkAppText(t, name));
export const loadReleaseFile = (root: string, app: string, version: number): Loaded<Release> =>
  load(root, relRelease(app, version), (t) => checkReleaseText(t, app, version));
export const loadConfigFile = (root: string, app: string, version: number): Loaded<ConfigVersionRow> =>
  load(root, relConfig(app, version), (t) => checkConfigText(t, app, version));
export const loadApprovalFile = (root: string, id: string): Loaded<Approval> => load(root, relApproval(id), (t) => checkApprovalText(t, id));
