/**
 * Reads the systemd journal through `journalctl -o json` and turns entries into LogLines.
 *
 * journald's JSON export (systemd.journal-fields(7), "JSON format" in journalctl(1)): each line
 * is one entry; a field value is a string, an array of byte numbers when the value is not valid
 * UTF-8 (or has control characters), `null` when it is too large to print, and an array of such
 * values when the field occurs more than once in the entry.
 */
import { execa } from 'execa';
import { ExternalToolError, InvalidInputError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import type { LogLine } from '../../core/ports/runtime.ts';

/** A field value as decoded here: text, or null when journald left it out. */
export type JournalFieldValue = string | null;

/** One journal entry, decoded. */
export interface JournalEntry extends LogLine {
  /** Every field of the entry; repeated fields keep their first value. */
  fields: Record<string, JournalFieldValue>;
}

/** Which entries to read. Either units, matches, or both (journalctl ANDs field matches). */
export interface JournalQuery {
  /** `-u` for each: the unit's own processes and systemd's messages about it. */
  units?: readonly string[];
  /** `FIELD=value` matches, e.g. `{ PVDIFY_APP: 'myapp' }`. */
  matches?: Readonly<Record<string, string>>;
  /** Newest entries to return (journalctl `-n`). */
  lines: number;
}

export interface Journal {
  /** Entries oldest first, at most `lines`. */
  read(query: JournalQuery): Promise<JournalEntry[]>;
}

export interface JournalOptions {
  /** Defaults to `journalctl` on PATH. */
  path?: string;
  timeoutMs?: number;
  log?: Logger;
}

/** Longest message kept per line; journald allows far longer, Slack and logs do not want it. */
export const MAX_MESSAGE_CHARS = 8192;
const FIELD_RE = /^[A-Z0-9_]{1,64}$/;
const UNIT_RE = /^[A-Za-z0-9:_.@\\*?[\]-]+$/;

/** The fields a reader needs; journalctl always adds the cursor and timestamps. */
export const JOURNAL_OUTPUT_FIELDS = [
  'MESSAGE',
  'PRIORITY',
  '_SYSTEMD_UNIT',
  'UNIT',
  'CONTAINER_NAME',
  'SYSLOG_IDENTIFIER',
  'PODMAN_EVENT',
  '_COMM',
  'PVDIFY_APP',
  'PVDIFY_PROCESS',
  'PVDIFY_COLOUR',
  'PVDIFY_INDEX',
  'PVDIFY_RELEASE',
] as const;

function isByteArray(v: unknown[]): v is number[] {
  return v.length > 0 && v.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 255);
}

/** One JSON field value → text. Byte arrays are decoded as UTF-8 (invalid bytes become U+FFFD). */
export function decodeFieldValue(value: unknown): JournalFieldValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '';
    if (isByteArray(value)) return Buffer.from(value).toString('utf8');
    // A repeated field: the first value that is present wins.
    for (const item of value) {
      if (typeof item === 'number') continue;
      const decoded = decodeFieldValue(item);
      if (decoded !== null) return decoded;
    }
    return null;
  }
  return null;
}

/** `__REALTIME_TIMESTAMP` (microseconds since the epoch, as a decimal string) → ISO, or null. */
export function realtimeToIso(value: JournalFieldValue): string | null {
  if (value === null || !/^\d{1,19}$/.test(value)) return null;
  const ms = Number(BigInt(value) / 1000n);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) || ms === 0 ? null : d.toISOString();
}

/** Parses one line of `journalctl -o json`; null for blank or unparsable lines. */
export function parseJournalLine(line: string): JournalEntry | null {
  const trimmed = line.trim();
  if (trimmed === '') return null;
  let raw: unknown;
  try {
    raw = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const fields: Record<string, JournalFieldValue> = {};
  for (const [key, value] of Object.entries(raw)) fields[key] = decodeFieldValue(value);

  let message = fields.MESSAGE ?? '';
  // Programs often log a trailing newline; it is not part of the line.
  message = message.replace(/\r?\n$/, '');
  if (message.length > MAX_MESSAGE_CHARS) message = `${message.slice(0, MAX_MESSAGE_CHARS)}…`;
  const source =
    fields.CONTAINER_NAME ?? fields.UNIT ?? fields._SYSTEMD_UNIT ?? fields.SYSLOG_IDENTIFIER ?? fields._COMM ?? 'journal';
  return { time: realtimeToIso(fields.__REALTIME_TIMESTAMP ?? null), source, message, fields };
}

/** Parses the whole output; bad lines are skipped (journalctl may be cut off mid-line). */
export function parseJournalOutput(text: string): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    const entry = parseJournalLine(line);
    if (entry) out.push(entry);
  }
  return out;
}

/**
 * Podman's own bookkeeping in a unit's journal: structured events (`container create`, …) and the
 * container id it prints after `run -d`. Useful for debugging podman, noise in an app's logs.
 */
export function isPodmanNoise(entry: JournalEntry): boolean {
  if (entry.fields.PODMAN_EVENT !== undefined && entry.fields.PODMAN_EVENT !== null) return true;
  const fromPodman = entry.fields.SYSLOG_IDENTIFIER === 'podman' || entry.fields._COMM === 'podman';
  return fromPodman && (entry.message.trim() === '' || /^[0-9a-f]{64}$/.test(entry.message.trim()));
}

/** The journalctl argv for a query (exported for tests and for operators reading the logs). */
export function journalctlArgs(query: JournalQuery): string[] {
  if (!Number.isInteger(query.lines) || query.lines < 1 || query.lines > 100_000) {
    throw new InvalidInputError('lines must be between 1 and 100000');
  }
  const units = query.units ?? [];
  const matches = Object.entries(query.matches ?? {});
  if (units.length === 0 && matches.length === 0) throw new InvalidInputError('a journal query needs units or matches');
  const args: string[] = [];
  for (const unit of units) {
    if (!UNIT_RE.test(unit) || unit.startsWith('-')) throw new InvalidInputError(`not a unit name: ${JSON.stringify(unit)}`);
    args.push('-u', unit);
  }
  args.push('-o', 'json', '-n', String(query.lines), '--no-pager', '--all', `--output-fields=${JOURNAL_OUTPUT_FIELDS.join(',')}`);
  for (const [field, value] of matches) {
    if (!FIELD_RE.test(field) || /[\n\0]/.test(value)) throw new InvalidInputError(`not a journal match: ${field}`);
    args.push(`${field}=${value}`);
  }
  return args;
}

export function createJournal(opts: JournalOptions = {}): Journal {
  const bin = opts.path ?? 'journalctl';
  const log = (opts.log ?? silentLogger).child({ component: 'journald' });
  return {
    async read(query) {
      const args = journalctlArgs(query);
      const result = await execa(bin, args, {
        reject: false,
        timeout: opts.timeoutMs ?? 30_000,
        stdin: 'ignore',
        maxBuffer: 64 * 1024 * 1024,
        env: { SYSTEMD_PAGER: 'cat', SYSTEMD_COLORS: '0' },
      });
      if (result.exitCode !== 0) {
        const detail =
          String(result.stderr ?? '')
            .split('\n')
            .find((l) => l.trim().length > 0) ?? (result.timedOut ? 'timed out' : result.shortMessage);
        log.warn({ args, exitCode: result.exitCode }, 'journalctl failed');
        throw new ExternalToolError('journalctl', `journalctl failed: ${detail}`, 'the daemon needs to be root or in the systemd-journal group');
      }
      const stderr = String(result.stderr ?? '').trim();
      // journalctl reports "insufficient permissions" as a warning with exit status 0.
      if (stderr !== '') log.warn({ stderr: stderr.slice(0, 500) }, 'journalctl warnings');
      const entries = parseJournalOutput(String(result.stdout ?? ''));
      return entries.slice(-query.lines);
    },
  };
}
