/**
 * `systemd-analyze verify` for unit files we generate. It works without systemd as PID 1: it
 * loads the files (plus their dependencies from the normal search path), checks every key and
 * that Exec binaries exist. Unknown keys and bad quoting are only warnings with exit status 0,
 * so any diagnostic line counts as a failure here.
 */
import { execa } from 'execa';
import { ExternalToolError } from '../../core/errors.ts';

export const DEFAULT_SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';

export interface UnitVerifyResult {
  ok: boolean;
  exitCode: number;
  /** Every non-empty line systemd-analyze printed (warnings included). */
  diagnostics: string[];
}

export interface VerifyOptions {
  systemdAnalyzePath?: string;
  timeoutMs?: number;
}

/** Verifies unit files by path; file names must be the unit names (`x@y.service`). */
export async function verifyUnitFiles(paths: readonly string[], opts: VerifyOptions = {}): Promise<UnitVerifyResult> {
  if (paths.length === 0) return { ok: true, exitCode: 0, diagnostics: [] };
  const bin = opts.systemdAnalyzePath ?? DEFAULT_SYSTEMD_ANALYZE;
  // --man=no: no Documentation= lookups; --generators=no: generators need a running system.
  const result = await execa(bin, ['verify', '--man=no', '--generators=no', ...paths], {
    reject: false,
    all: true,
    timeout: opts.timeoutMs ?? 60_000,
    env: { SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: 'cat', SYSTEMD_LOG_LEVEL: 'notice' },
  });
  if (result.failed && result.exitCode === undefined) {
    throw new ExternalToolError('systemd-analyze', `could not run ${bin}: ${result.shortMessage}`);
  }
  const diagnostics = String(result.all ?? '')
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.length > 0);
  const exitCode = result.exitCode ?? 1;
  return { ok: exitCode === 0 && diagnostics.length === 0, exitCode, diagnostics };
}

/** Like `verifyUnitFiles`, but throws ExternalToolError listing the diagnostics. */
export async function assertUnitFilesValid(paths: readonly string[], opts: VerifyOptions = {}): Promise<void> {
  const result = await verifyUnitFiles(paths, opts);
  if (!result.ok) {
    throw new ExternalToolError(
      'systemd-analyze',
      `systemd-analyze verify rejected the units (exit ${result.exitCode}): ${result.diagnostics.join(' | ') || 'no output'}`,
    );
  }
}
