/**
 * rebuild-index benchmark. Generates a state dir (default 1,000 apps × 100 releases, 2 config
 * versions per app, 200 approvals, 20 audit events per app; not measured), then in one run:
 *
 *   (a) floor: read + parse every state file and nothing else (YAML.parse for the YAML files,
 *       JSON.parse per line for the audit log), and
 *   (b) `store.rebuildIndex()`,
 *
 * alternating a/b for --rounds rounds (≥ 5) and printing medians and their ratio; then
 * (c) p50/p99 of `listReleases(app, 10)` and `queryAudit({ app })` over random apps, and
 * (d) the peak RSS of a child process that opens the store and runs one rebuild.
 *
 *   node --import tsx bench/rebuild-index.bench.ts [--apps N] [--releases M] [--audit K] [--rounds R] [--queries Q] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { silentLogger, systemClock } from '../src/core/ports/clock.ts';
import { openStateStore } from '../src/store/state-store.ts';
import { generateState } from './support/generate-state.ts';
import { mulberry32 } from '../test/support/prng.ts';
import { runIfMain } from './support/run-if-main.ts';

interface BenchArgs {
  apps: number;
  releases: number;
  audit: number;
  rounds: number;
  queries: number;
  keep: boolean;
}

function parseArgs(argv: string[]): BenchArgs {
  const out: BenchArgs = { apps: 1000, releases: 100, audit: -1, rounds: 5, queries: 2000, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--keep') {
      out.keep = true;
      continue;
    }
    const value = Number(argv[i + 1]);
    const key = { '--apps': 'apps', '--releases': 'releases', '--audit': 'audit', '--rounds': 'rounds', '--queries': 'queries' }[flag ?? ''] as
      | keyof Omit<BenchArgs, 'keep'>
      | undefined;
    if (!key || !Number.isInteger(value) || value < 0) throw new Error(`usage: rebuild-index.bench.ts [--apps N] [--releases M] [--audit K] [--rounds R] [--queries Q] [--keep] (bad ${flag})`);
    out[key] = value;
    i += 1;
  }
  out.rounds = Math.max(out.rounds, 1);
  // 20 audit events per app unless told otherwise (20,000 at the default size).
  if (out.audit < 0) out.audit = 20 * out.apps;
  return out;
}

/** The floor: read and parse every file the rebuild reads, nothing else. */
export function readAndParseAll(root: string): number {
  let n = 0;
  const parseDir = (dir: string, suffix: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.endsWith(suffix) || name.startsWith('.')) continue;
      YAML.parse(readFileSync(join(dir, name), 'utf8'));
      n += 1;
    }
  };
  parseDir(join(root, 'apps'), '.yaml');
  for (const app of readdirSync(join(root, 'releases'))) parseDir(join(root, 'releases', app), '.yaml');
  for (const app of readdirSync(join(root, 'config'))) parseDir(join(root, 'config', app), '.sops.yaml');
  parseDir(join(root, 'approvals'), '.yaml');
  for (const file of readdirSync(join(root, 'audit'))) {
    for (const line of readFileSync(join(root, 'audit', file), 'utf8').split('\n')) if (line) JSON.parse(line);
    n += 1;
  }
  return n;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

const median = (xs: number[]): number => quantile([...xs].sort((a, b) => a - b), 0.5);

function timeQueries(count: number, run: (i: number) => void): { p50: number; p99: number } {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = process.hrtime.bigint();
    run(i);
    samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  samples.sort((a, b) => a - b);
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const root = mkdtempSync(join(tmpdir(), 'pvdify-bench-'));
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    let t = performance.now();
    const gen = generateState({ root, apps: args.apps, releasesPerApp: args.releases, auditEvents: args.audit });
    out(`generated ${gen.files} files (${(gen.bytes / 1048576).toFixed(1)} MiB) in ${root} in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    t = performance.now();
    const store = openStateStore({ root, clock: systemClock, log: silentLogger });
    out(`first open (builds the index from nothing): ${(performance.now() - t).toFixed(0)} ms`);

    const floor: number[] = [];
    const rebuild: number[] = [];
    let releases = 0;
    for (let r = 0; r < args.rounds; r++) {
      t = performance.now();
      readAndParseAll(root);
      floor.push(performance.now() - t);
      t = performance.now();
      const report = store.rebuildIndex();
      rebuild.push(performance.now() - t);
      releases = report.releases;
      if (report.problems.length > 0) throw new Error(`rebuild reported problems: ${report.problems[0]?.path}: ${report.problems[0]?.message}`);
      out(`round ${r + 1}: floor ${floor[r]?.toFixed(0)} ms, rebuild ${rebuild[r]?.toFixed(0)} ms`);
    }

    const rand = mulberry32(7);
    const pick = (): string => gen.appNames[Math.floor(rand() * gen.appNames.length)] as string;
    const lr = timeQueries(args.queries, () => {
      if (store.listReleases(pick(), 10).length === 0 && args.releases > 0) throw new Error('no releases');
    });
    const qa = timeQueries(args.queries, () => store.queryAudit({ app: pick() }));
    const openT = timeQueries(Math.min(50, args.queries), () => openStateStore({ root, clock: systemClock, log: silentLogger }).close());
    store.close();

    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./support/rebuild-rss-child.ts', import.meta.url)), root], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('..', import.meta.url)),
    });
    if (child.status !== 0) throw new Error(`RSS child failed: ${child.stderr}`);
    const rss = JSON.parse(child.stdout.trim()) as { beforeKiB: number; openKiB: number; maxRssKiB: number; durationMs: number };

    const fm = median(floor);
    const rm = median(rebuild);
    out('');
    out(`| ${args.apps} apps × ${args.releases} releases, ${args.audit} audit events (${releases} releases indexed), ${args.rounds} rounds | value |`);
    out('|---|---|');
    out(`| (a) floor: read + parse every file, median | ${fm.toFixed(0)} ms |`);
    out(`| (b) rebuildIndex(), median | ${rm.toFixed(0)} ms |`);
    out(`| ratio (b)/(a) | ${(rm / fm).toFixed(2)}× |`);
    out(`| (c) listReleases(app, 10) p50 / p99 over ${args.queries} | ${lr.p50.toFixed(0)} / ${lr.p99.toFixed(0)} µs |`);
    out(`| (c) queryAudit({ app }) p50 / p99 over ${args.queries} | ${qa.p50.toFixed(0)} / ${qa.p99.toFixed(0)} µs |`);
    out(`| open an in-sync store p50 / p99 | ${(openT.p50 / 1000).toFixed(1)} / ${(openT.p99 / 1000).toFixed(1)} ms |`);
    out(`| (d) peak RSS of a rebuild (child process) | ${(rss.maxRssKiB / 1024).toFixed(0)} MB (after open: ${(rss.openKiB / 1024).toFixed(0)} MB, node+tsx at start: ${(rss.beforeKiB / 1024).toFixed(0)} MB) |`);
    return 0;
  } finally {
    if (args.keep) out(`kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, main);
