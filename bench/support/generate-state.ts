/**
 * Writes a large, valid state dir straight to disk (no store, no fsync) for benchmarks: N apps
 * with M releases each, two config versions per app, some approvals, and a hash-chained audit
 * log spread over months. Files have the exact layout the store writes (block YAML from
 * `stringifyYaml`); a sample is checked against the store's own loaders before returning.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditFileForTime, sealAuditEvent } from '../../src/core/audit/audit-chain.ts';
import type { AppSlot, Release } from '../../src/core/model.ts';
import { loadAppFile, loadApprovalFile, loadConfigFile, loadReleaseFile } from '../../src/store/state-files.ts';
import { stringifyYaml } from '../../src/store/yaml-io.ts';
import { mulberry32 } from '../../test/support/prng.ts';

export interface GenerateOptions {
  root: string;
  apps: number;
  releasesPerApp: number;
  auditEvents: number;
  configVersionsPerApp?: number;
  approvals?: number;
  seed?: number;
}

export interface GeneratedState {
  appNames: string[];
  files: number;
  bytes: number;
}

const BASE = Date.parse('2025-01-01T00:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

/** The same bytes `stringifyYaml(release)` produces, without the cost of the generic serialiser. */
function releaseYaml(r: Release): string {
  return `schema_version: 1
app: ${r.app}
version: ${r.version}
kind: ${r.kind}
image: ${r.image}
config_version: ${r.config_version ?? 'null'}
status: ${r.status}
description: ${r.description}
source: ${r.source}
created_by: ${r.created_by}
created_by_name: ${r.created_by_name}
approved_by: ${r.approved_by ?? 'null'}
rollback_of: ${r.rollback_of ?? 'null'}
created_at: ${r.created_at}
updated_at: ${r.updated_at}
finished_at: ${r.finished_at ?? 'null'}
error: null
`;
}

export function generateState(opts: GenerateOptions): GeneratedState {
  const rand = mulberry32(opts.seed ?? 42);
  const { root } = opts;
  const configPerApp = opts.configVersionsPerApp ?? 2;
  const approvals = opts.approvals ?? Math.min(200, opts.apps);
  for (const d of ['apps', 'releases', 'config', 'approvals', 'audit']) mkdirSync(join(root, d), { recursive: true });
  let files = 0;
  let bytes = 0;
  const write = (path: string, text: string, mode = 0o644): void => {
    writeFileSync(path, text, { mode });
    files += 1;
    bytes += Buffer.byteLength(text);
  };
  const appNames: string[] = [];
  for (let i = 0; i < opts.apps; i++) {
    const name = `app-${String(i).padStart(4, '0')}`;
    appNames.push(name);
    const created = BASE + i * 60_000;
    const current = opts.releasesPerApp > 0 ? opts.releasesPerApp : null;
    const app: AppSlot = {
      version: 1,
      name,
      environment: i % 3 === 0 ? 'production' : i % 3 === 1 ? 'staging' : 'preview',
      status: current ? 'running' : 'created',
      image: current ? `ghcr.io/org/${name}:v1.0.${current}` : null,
      bind_port: 3000 + i,
      processes: { web: { command: null, count: 1 + (i % 2) }, ...(i % 4 === 0 ? { worker: { command: 'npm run worker', count: 1 } } : {}) },
      domains: i % 5 === 0 ? [`${name}.example.com`] : [],
      domain_routes: i % 5 === 0 ? { [`${name}.example.com`]: { status: 'active', cf_record_id: `rec-${i}`, created_at: iso(created) } } : {},
      resources: { memory: '512M', cpu: 0.5 },
      healthcheck: { path: '/health', interval: '30s', timeout: '5s', retries: 3 },
      current_release: current,
      config_version: configPerApp > 0 ? configPerApp : null,
      deployment: current ? { colour: 'blue', release: current, instances: [{ process: 'web', index: 1, port: 20000 + i }] } : null,
      created_at: iso(created),
      updated_at: iso(created + 1000),
    };
    write(join(root, 'apps', `${name}.yaml`), stringifyYaml(app));
    mkdirSync(join(root, 'releases', name));
    for (let v = 1; v <= opts.releasesPerApp; v++) {
      const at = created + v * 3_600_000;
      const failed = rand() < 0.05;
      const r: Release = {
        schema_version: 1,
        app: name,
        version: v,
        kind: v % 10 === 0 ? 'config' : 'deploy',
        image: `ghcr.io/org/${name}:v1.0.${v}`,
        config_version: configPerApp > 0 ? Math.min(configPerApp, 1 + Math.floor(v / 50)) : null,
        status: v === opts.releasesPerApp ? 'succeeded' : failed ? 'failed' : 'superseded',
        description: `Deploy ghcr.io/org/${name}:v1.0.${v}`,
        source: v % 2 ? 'slack' : 'cli',
        created_by: v % 2 ? 'slack:U012ABCDEF' : 'cli:alice',
        created_by_name: v % 2 ? 'Alice Example' : 'alice',
        approved_by: null,
        rollback_of: null,
        created_at: iso(at),
        updated_at: iso(at + 60_000),
        finished_at: iso(at + 60_000),
        error: null,
      };
      write(join(root, 'releases', name, `v${v}.yaml`), releaseYaml(r));
    }
    if (configPerApp > 0) {
      mkdirSync(join(root, 'config', name));
      for (let v = 1; v <= configPerApp; v++) {
        const sops =
          `API_KEY: ENC[AES256_GCM,data:${'x'.repeat(24)},iv:${'y'.repeat(43)}=,tag:${'z'.repeat(22)}==,type:str]\n` +
          `DATABASE_URL: ENC[AES256_GCM,data:${'q'.repeat(48)},iv:${'y'.repeat(43)}=,tag:${'z'.repeat(22)}==,type:str]\n` +
          `sops:\n    lastmodified: "${iso(created + v * 86_400_000).replace('.000Z', 'Z')}"\n    mac: ENC[AES256_GCM,data:${'m'.repeat(86)},type:str]\n    version: 3.10.2\n`;
        write(join(root, 'config', name, `v${v}.sops.yaml`), sops, 0o600);
      }
    }
  }
  for (let i = 0; i < approvals; i++) {
    const app = appNames[i % appNames.length] as string;
    const at = BASE + i * 7_200_000;
    const id = `apr-${String(i).padStart(6, '0')}`;
    write(
      join(root, 'approvals', `${id}.yaml`),
      stringifyYaml({
        schema_version: 1,
        id,
        app,
        action: 'deploy',
        command: `deploy ${app} ghcr.io/org/${app}:v2`,
        requested_by: 'slack:U1',
        requested_by_name: 'Alice',
        requested_at: iso(at),
        expires_at: iso(at + 3_600_000),
        status: i % 3 === 0 ? 'pending' : 'approved',
        decided_by: i % 3 === 0 ? null : 'slack:U2',
        decided_by_name: i % 3 === 0 ? null : 'Bob',
        decided_at: i % 3 === 0 ? null : iso(at + 60_000),
        channel: 'C1',
        message_ts: '1.2',
      }),
    );
  }
  // Audit: one chain over ~2 years of months.
  let prev = '0'.repeat(64);
  const span = 730 * 86_400_000;
  const chunks = new Map<string, string[]>();
  for (let seq = 1; seq <= opts.auditEvents; seq++) {
    const time = iso(BASE + Math.floor((span * seq) / Math.max(1, opts.auditEvents)));
    const app = appNames[Math.floor(rand() * appNames.length)] ?? null;
    const e = sealAuditEvent({
      seq,
      id: `evt-${seq}`,
      time,
      actor_id: seq % 3 ? 'slack:U012ABCDEF' : 'cli:bob',
      actor_name: seq % 3 ? 'Alice Example' : 'bob',
      source: seq % 3 ? 'slack' : 'cli',
      channel: seq % 3 ? 'C0123' : null,
      command: `deploy ${app} ghcr.io/org/${app}:v1.0.${seq % 100}`,
      app,
      outcome: seq % 17 === 0 ? 'failed' : 'ok',
      ref: app ? `${app} v${seq % 100}` : null,
      detail: null,
      prev,
    });
    prev = e.hash;
    const file = auditFileForTime(time);
    let list = chunks.get(file);
    if (!list) chunks.set(file, (list = []));
    list.push(JSON.stringify(e));
  }
  for (const [file, lines] of chunks) write(join(root, 'audit', file), `${lines.join('\n')}\n`);

  // The templates must stay byte-compatible with what the store accepts.
  const sample = appNames[0];
  if (sample) {
    const checks = [
      loadAppFile(root, sample),
      opts.releasesPerApp > 0 ? loadReleaseFile(root, sample, opts.releasesPerApp) : null,
      configPerApp > 0 ? loadConfigFile(root, sample, 1) : null,
      approvals > 0 ? loadApprovalFile(root, 'apr-000000') : null,
    ];
    for (const c of checks) if (c && !c.ok) throw new Error(`generated file does not load: ${c.message}`);
  }
  return { appNames, files, bytes };
}
