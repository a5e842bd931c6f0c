/**
 * Pre-change snapshots (seed: "Before any system changes … includes /var/lib/pvdify/, systemd
 * units, tunnel config"): one tar.gz per rollout, the newest `keep` kept. The SQLite index is
 * left out (it is rebuilt from the files) and so are logs; secrets stay encrypted except the
 * rendered env files, which is why the archive is mode 0600.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { ExternalToolError } from '../../core/errors.ts';
import type { Clock, Logger } from '../../core/ports/clock.ts';
import type { Snapshotter } from '../../core/ports/runtime.ts';

export interface TarSnapshotOptions {
  stateDir: string;
  /** Where archives go (default: `<stateDir>/../pvdify-snapshots`). */
  snapshotDir: string;
  /** Unit files (`pvdify-*.service`) are copied from here when it exists. */
  unitDir: string | null;
  keep: number;
  clock: Clock;
  log: Logger;
}

export function createTarSnapshotter(opts: TarSnapshotOptions): Snapshotter {
  return {
    async create(reason) {
      mkdirSync(opts.snapshotDir, { recursive: true, mode: 0o700 });
      const stamp = opts.clock.now().toISOString().replace(/[:.]/g, '').replace('T', '-');
      const slug = reason.replace(/[^a-z0-9-]+/gi, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'change';
      const archive = join(opts.snapshotDir, `pvdify-snapshot-${stamp}-${slug}.tar.gz`);
      const args = [
        '--create',
        '--gzip',
        '--file',
        archive,
        '--exclude=pvdifyd.db*',
        '--exclude=logs',
        '-C',
        dirname(opts.stateDir),
        basename(opts.stateDir),
      ];
      if (opts.unitDir && existsSync(opts.unitDir)) {
        const units = readdirSync(opts.unitDir).filter((f) => /^(pvdify|cloudflared-pvdify)[\w@.-]*\.service$/.test(f));
        if (units.length > 0) args.push('-C', opts.unitDir, ...units);
      }
      try {
        // tar exits 1 when a file changed while it was read (a concurrent append to the audit
        // log): the archive is still complete for every other file.
        const r = await execa('tar', args, { reject: false, stdin: 'ignore' });
        if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(r.stderr.slice(0, 500));
        chmodSync(archive, 0o600);
      } catch (e) {
        rmSync(archive, { force: true });
        opts.log.error({ err: e, archive }, 'snapshot failed');
        throw new ExternalToolError('tar', `could not write the pre-change snapshot ${archive}`, 'check free disk space where snapshots are kept');
      }
      const all = readdirSync(opts.snapshotDir)
        .filter((f) => f.startsWith('pvdify-snapshot-') && f.endsWith('.tar.gz'))
        .sort();
      for (const old of all.slice(0, Math.max(0, all.length - opts.keep))) rmSync(join(opts.snapshotDir, old), { force: true });
      opts.log.debug({ archive }, 'pre-change snapshot written');
      return archive;
    },
  };
}
