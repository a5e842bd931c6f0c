/**
 * A thin, typed wrapper over `systemctl` (system manager). Every call is an argv array; failures
 * become ExternalToolError carrying systemctl's own first error line (it never prints env files).
 */
import { execa } from 'execa';
import { ExternalToolError, InvalidInputError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';

/** `systemctl show` properties as printed (`key=value`), by property name. */
export type UnitProperties = Record<string, string>;

/** The properties `show` asks for when the caller does not say. */
export const DEFAULT_SHOW_PROPERTIES = [
  'Id',
  'LoadState',
  'ActiveState',
  'SubState',
  'Result',
  'NRestarts',
  'MainPID',
  'ActiveEnterTimestamp',
  'StateChangeTimestamp',
] as const;

/** One row of `systemctl list-units`. */
export interface UnitListEntry {
  unit: string;
  load: string;
  active: string;
  sub: string;
  description: string;
}

/** What the systemd supervisor needs from systemctl. */
export interface Systemctl {
  daemonReload(): Promise<void>;
  start(unit: string): Promise<void>;
  stop(unit: string): Promise<void>;
  restart(unit: string): Promise<void>;
  /** `enable [--now]`: with `now` the unit is started as well. */
  enable(unit: string, opts?: { now?: boolean }): Promise<void>;
  /** `disable [--now]`: with `now` the unit is stopped as well. */
  disable(unit: string, opts?: { now?: boolean }): Promise<void>;
  /** Properties of one unit; timestamps come back as `@<unix seconds>` (see parseSystemdTimestamp). */
  show(unit: string, properties?: readonly string[]): Promise<UnitProperties>;
  /** Properties of several units in one call, keyed by the names asked for. */
  showMany(units: readonly string[], properties?: readonly string[]): Promise<Map<string, UnitProperties>>;
  isActive(unit: string): Promise<boolean>;
  /** Loaded units (any state) whose names match the glob. */
  listUnits(pattern: string): Promise<UnitListEntry[]>;
}

export interface SystemctlOptions {
  /** Binary to run; defaults to `systemctl` on PATH. Tests point this at the recording stub. */
  path?: string;
  /** Extra environment (merged over the process environment). */
  env?: Record<string, string>;
  /** Per-call limit; `start` of a Type=notify unit waits for READY, so this is generous. */
  timeoutMs?: number;
  log?: Logger;
}

const UNIT_ARG_RE = /^[A-Za-z0-9:_.@\\-]+$/;
const UNIT_GLOB_RE = /^[A-Za-z0-9:_.@\\*?[\]-]+$/;
const PROPERTY_RE = /^[A-Za-z][A-Za-z0-9]*$/;

function checkUnit(unit: string): string {
  // A leading `-` would read as an option; the rest keeps shell-free argv obviously harmless.
  if (!UNIT_ARG_RE.test(unit) || unit.startsWith('-')) throw new InvalidInputError(`not a unit name: ${JSON.stringify(unit)}`);
  return unit;
}

/** Parses `key=value` lines; values keep any further `=`. Lines without `=` are ignored. */
export function parseShowOutput(text: string): UnitProperties {
  const props: UnitProperties = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    props[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return props;
}

/** `systemctl show` of several units prints one block per unit, separated by a blank line. */
export function parseShowBlocks(text: string): UnitProperties[] {
  return text
    .split(/\n\s*\n/)
    .map((block) => parseShowOutput(block))
    .filter((p) => Object.keys(p).length > 0);
}

/** `list-units --plain --no-legend` rows: UNIT LOAD ACTIVE SUB DESCRIPTION… */
export function parseListUnits(text: string): UnitListEntry[] {
  const rows: UnitListEntry[] = [];
  for (const raw of text.split('\n')) {
    // Older systemd prints a `●` marker before failed units even with --plain.
    const line = raw.replace(/^\s*[●*]\s*/, '').trim();
    if (line.length === 0) continue;
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    rows.push({ unit: m[1]!, load: m[2]!, active: m[3]!, sub: m[4]!, description: m[5] ?? '' });
  }
  return rows;
}

const MONTHS_FREE_RE = /^(?:[A-Za-z]{3} )?(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)? (UTC|GMT)$/;

/**
 * Timestamps as `show` prints them: `@1700000000` (with `--timestamp=unix`, what this adapter
 * asks for) or `Tue 2025-01-07 10:00:00 UTC`. Empty, `n/a` and zone names other than UTC give
 * null rather than a guess.
 */
export function parseSystemdTimestamp(value: string | undefined): string | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (v === '' || v === 'n/a' || v === '0') return null;
  const unix = /^@(\d+)(?:\.(\d+))?$/.exec(v);
  if (unix) {
    const secs = Number(unix[1]);
    if (secs === 0) return null;
    const frac = unix[2] === undefined ? 0 : Number(`0.${unix[2]}`);
    return new Date(Math.round((secs + frac) * 1000)).toISOString();
  }
  const m = MONTHS_FREE_RE.exec(v);
  if (m) {
    const [, y, mo, d, h, mi, s, frac] = m;
    const ms = frac === undefined ? 0 : Math.round(Number(`0${frac}`) * 1000);
    return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms)).toISOString();
  }
  return null;
}

export function createSystemctl(opts: SystemctlOptions = {}): Systemctl {
  const bin = opts.path ?? 'systemctl';
  const log = (opts.log ?? silentLogger).child({ component: 'systemctl' });
  const timeout = opts.timeoutMs ?? 120_000;

  async function run(args: string[], okCodes: readonly number[] = [0]) {
    log.debug({ args }, 'systemctl');
    const result = await execa(bin, args, {
      reject: false,
      timeout,
      env: { SYSTEMD_PAGER: 'cat', SYSTEMD_COLORS: '0', ...opts.env },
      stdin: 'ignore',
    });
    if (result.exitCode === undefined || !okCodes.includes(result.exitCode)) {
      const detail =
        String(result.stderr ?? '')
          .split('\n')
          .find((l) => l.trim().length > 0) ?? (result.timedOut ? 'timed out' : result.shortMessage);
      log.warn({ args, exitCode: result.exitCode, stderr: result.stderr }, 'systemctl failed');
      throw new ExternalToolError('systemctl', `systemctl ${args.filter((a) => !a.startsWith('--')).join(' ')} failed: ${detail}`);
    }
    return { stdout: String(result.stdout ?? ''), exitCode: result.exitCode };
  }

  function props(properties: readonly string[]): string[] {
    for (const p of properties) if (!PROPERTY_RE.test(p)) throw new InvalidInputError(`not a unit property: ${JSON.stringify(p)}`);
    // Id is always fetched so blocks can be matched to the unit asked for.
    return [...new Set(['Id', ...properties])];
  }

  async function showMany(units: readonly string[], properties: readonly string[] = DEFAULT_SHOW_PROPERTIES) {
    const out = new Map<string, UnitProperties>();
    if (units.length === 0) return out;
    const names = units.map(checkUnit);
    const { stdout } = await run(['show', '--timestamp=unix', `--property=${props(properties).join(',')}`, '--', ...names]);
    const blocks = parseShowBlocks(stdout);
    // Blocks come in argument order; when counts differ, fall back to matching by Id.
    names.forEach((name, i) => {
      const block = blocks.length === names.length ? blocks[i] : blocks.find((b) => b.Id === name);
      out.set(name, block ?? { Id: name, LoadState: 'not-found', ActiveState: 'inactive' });
    });
    return out;
  }

  return {
    async daemonReload() {
      await run(['daemon-reload']);
    },
    async start(unit) {
      await run(['start', '--', checkUnit(unit)]);
    },
    async stop(unit) {
      await run(['stop', '--', checkUnit(unit)]);
    },
    async restart(unit) {
      await run(['restart', '--', checkUnit(unit)]);
    },
    async enable(unit, o = {}) {
      await run(['enable', ...(o.now ? ['--now'] : []), '--', checkUnit(unit)]);
    },
    async disable(unit, o = {}) {
      await run(['disable', ...(o.now ? ['--now'] : []), '--', checkUnit(unit)]);
    },
    async show(unit, properties = DEFAULT_SHOW_PROPERTIES) {
      const map = await showMany([unit], properties);
      return map.get(checkUnit(unit)) ?? {};
    },
    showMany,
    async isActive(unit) {
      // is-active exits 0 when active and 3 (or 4 for unknown units) otherwise.
      const { exitCode } = await run(['is-active', '--', checkUnit(unit)], [0, 1, 3, 4]);
      return exitCode === 0;
    },
    async listUnits(pattern) {
      if (!UNIT_GLOB_RE.test(pattern) || pattern.startsWith('-')) {
        throw new InvalidInputError(`not a unit pattern: ${JSON.stringify(pattern)}`);
      }
      const { stdout } = await run(['list-units', '--all', '--plain', '--no-legend', '--no-pager', '--', pattern]);
      return parseListUnits(stdout);
    },
  };
}
