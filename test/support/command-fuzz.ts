/**
 * Seeded generator of hostile command lines, and a loop that runs them through a front door and
 * checks the invariants every command must keep. Reusable against any `FuzzTarget` (the fake
 * services here; the real store and services in the lead's suite).
 *
 * Invariants per command line:
 *  - nothing throws out of the front door; no internal error (exit 2) — with correct services
 *    an internal error means the grammar let something invalid through;
 *  - a refused or failed command, and any read command, leaves the state snapshot unchanged;
 *  - exactly one audit event is recorded, outcome ok exactly when the command succeeded, its
 *    text within 4000 characters;
 *  - no secret value (the value of a KEY=VALUE argument, or a config value stored earlier)
 *    appears in output, audit or log, except `config:get`'s output on the terminal.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { scanCommandLine } from '../../src/core/grammar/tokenize.ts';
import { mulberry32 } from './prng.ts';

/** A seeded Rng over mulberry32 (./prng.ts). */
export function createRng(seed: number): Rng {
  const next = mulberry32(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(items.length)] as T,
  };
}

export interface Rng {
  next(): number;
  int(n: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

/** The seed from `FUZZ_SEED`, or a fresh one (print it so a failure can be replayed). */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const given = env.FUZZ_SEED;
  if (given !== undefined && /^\d+$/.test(given)) return Number(given) >>> 0;
  return randomInt(0, 2 ** 32 - 1);
}

/** Every secret value the generator makes contains a marker like this one. */
export const SECRET_MARKER_RE = /s3cr3t[0-9a-f]{12}/g;

export type FuzzKind = 'valid' | 'mutated' | 'random' | 'unicode' | 'huge' | 'flag-soup';

export interface FuzzCase {
  index: number;
  kind: FuzzKind;
  /** What the terminal front door gets. */
  argv: string[];
  /** The same command as Slack text (sometimes with broken quoting). */
  text: string;
}

export const FUZZ_APPS = ['myapp', 'myapp-staging', 'api', 'web-pr-7'];
const KEYS = ['API_KEY', 'DATABASE_URL', 'SECRET_TOKEN', '_X', 'A1', 'REDIS_URL'];
const DOMAINS = ['www.example.com', 'api.example.com', 'x.example.org', '*.example.net', 'WWW.EXAMPLE.COM'];
const COMMAND_NAMES = [
  'help', 'apps', 'apps:create', 'apps:info', 'apps:delete', 'releases', 'releases:info', 'config',
  'config:set', 'config:unset', 'config:get', 'domains', 'domains:add', 'domains:remove', 'audit',
];
const WEIRD_TOKENS = [
  '--', '-', '--json', '--json=1', '-a', '--app', '--app=', '--limit', '--limit=-5', '1e99', '-5', '0',
  '--env', 'prod', '--env=staging', '--confirm', '=', '==', 'A=', '=x', '', '..', '../etc/passwd', '/', 'a/b',
  '--help', '-h', 'web=3', 'K=V', '--since', '7d', '2024-02-31', 'v0', 'v999', '*', '$(id)', '`id`', '; ls',
  '%s%n', '\\', "'", '"', 'NaN', 'Infinity', '-1', '--limt', '-n', '-u', '--user', '-p', 'web', 'a'.repeat(41),
  'MyApp', 'apps:creat', 'CONFIG:SET', 'null', 'undefined', '__proto__', 'constructor', '--__proto__', 'toString',
];
const LOOKALIKES: Record<string, string[]> = {
  a: ['\u0430', '\uff41', '\u00e0'],
  e: ['\u0435', '\u00e9'],
  o: ['\u043e', '\u03bf', '0'],
  p: ['\u0440'],
  c: ['\u0441'],
  i: ['\u0456', '\u0131'],
  '-': ['\u2010', '\u2013', '\u2212'],
  ':': ['\uff1a', '\u02d0'],
};
const ODD_CHARS = [
  '\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u200b', '\u200d', '\u202e', '\u2066', '\u00a0', '\u3000', '\ufeff',
  '\u0301', '😀', '\ud800', '\udc00', '\t', '\n', '\r', '"', "'", '=', '-', ' ', '\\', '/', '.', 'A', 'z', '9',
];

export class CommandFuzzer {
  readonly rng: Rng;
  private index = 0;
  private marker = 0;

  constructor(readonly seed: number) {
    this.rng = createRng(seed);
  }

  /** A fresh secret value: a unique marker, sometimes wrapped in spaces, quotes, `=` or unicode. */
  secret(): string {
    this.marker += 1;
    const hex = ((this.seed ^ (this.marker * 2654435761)) >>> 0).toString(16).padStart(8, '0') + this.marker.toString(16).padStart(4, '0').slice(-4);
    const core = `s3cr3t${hex}`;
    const r = this.rng;
    switch (r.int(6)) {
      case 0:
        return `${core} with spaces`;
      case 1:
        return `a=b&${core}`;
      case 2:
        return `"${core}'`;
      case 3:
        return `ü${core}€`;
      default:
        return core;
    }
  }

  private app(): string {
    const r = this.rng;
    return r.chance(0.7) ? r.pick(FUZZ_APPS) : `new-${r.int(20)}`;
  }

  private withApp(command: string, app: string, rest: string[]): string[] {
    const r = this.rng;
    if (r.chance(0.15)) return [command, '-a', app, ...rest];
    if (r.chance(0.05)) return [command, ...rest, `--app=${app}`];
    return [command, app, ...rest];
  }

  /** A well-formed command (it may still be refused: missing app, taken name). */
  valid(): string[] {
    const r = this.rng;
    const app = this.app();
    let argv: string[];
    switch (r.int(16)) {
      case 0:
        argv = r.chance(0.5) ? ['help'] : ['help', r.pick(COMMAND_NAMES)];
        break;
      case 1:
        argv = ['apps'];
        break;
      case 2:
        argv = this.withApp('apps:create', r.chance(0.5) ? `new-${r.int(20)}` : app, r.chance(0.3) ? ['--env', r.pick(['production', 'staging', 'preview'])] : []);
        break;
      case 3:
        argv = this.withApp('apps:info', app, []);
        break;
      case 4:
        // Rare: deleting empties the pool the other commands work on.
        argv = r.chance(0.1) ? ['apps:delete', app, '--confirm', app] : ['apps:delete', app, '--confirm', r.pick(FUZZ_APPS)];
        break;
      case 5:
        argv = this.withApp('releases', app, r.chance(0.5) ? ['--limit', String(1 + r.int(1000))] : []);
        break;
      case 6:
        argv = this.withApp('releases:info', app, [r.chance(0.5) ? `v${1 + r.int(6)}` : String(1 + r.int(6))]);
        break;
      case 7:
        argv = this.withApp('config', app, []);
        break;
      case 8:
      case 9: {
        const keys = [...new Set(Array.from({ length: 1 + r.int(4) }, () => r.pick(KEYS)))];
        argv = this.withApp('config:set', app, keys.map((k) => `${k}=${this.secret()}`));
        break;
      }
      case 10:
        argv = this.withApp('config:unset', app, [...new Set(Array.from({ length: 1 + r.int(3) }, () => r.pick(KEYS)))]);
        break;
      case 11:
        argv = this.withApp('config:get', app, [r.pick(KEYS)]);
        break;
      case 12:
        argv = this.withApp('domains', app, []);
        break;
      case 13:
        argv = this.withApp('domains:add', app, [r.pick(DOMAINS)]);
        break;
      case 14:
        argv = this.withApp('domains:remove', app, [r.pick(DOMAINS)]);
        break;
      default: {
        argv = ['audit'];
        if (r.chance(0.4)) argv.push('--app', app);
        if (r.chance(0.3)) argv.push('--user', r.pick(['cli:alice', 'alice', 'slack:U123']));
        if (r.chance(0.3)) argv.push('--since', r.pick(['7d', '24h', '30m', '2024-05-01', '2024-05-01T10:00:00Z']));
        if (r.chance(0.3)) argv.push('-n', String(1 + r.int(100)));
      }
    }
    if (r.chance(0.2)) argv.push('--json');
    return argv;
  }

  private mutateToken(token: string): string {
    const r = this.rng;
    const chars = [...token];
    const at = r.int(chars.length + 1);
    switch (r.int(6)) {
      case 0:
        chars.splice(at, 0, r.pick(ODD_CHARS));
        break;
      case 1:
        chars.splice(at, 1);
        break;
      case 2:
        return r.chance(0.5) ? token.toUpperCase() : token.toLowerCase();
      case 3: {
        const i = chars.findIndex((c) => c in LOOKALIKES);
        if (i !== -1) chars[i] = r.pick(LOOKALIKES[chars[i] as string] as string[]);
        break;
      }
      case 4:
        return token.slice(0, r.int(token.length + 1));
      default:
        chars.splice(at, 0, ...r.pick(WEIRD_TOKENS));
    }
    return chars.join('');
  }

  mutated(): string[] {
    const r = this.rng;
    const argv = this.valid();
    for (let n = 1 + r.int(3); n > 0; n -= 1) {
      const i = r.int(argv.length);
      switch (r.int(6)) {
        case 0:
          if (argv.length > 1) argv.splice(i, 1);
          break;
        case 1:
          argv.splice(i, 0, argv[i] as string);
          break;
        case 2: {
          const j = r.int(argv.length);
          [argv[i], argv[j]] = [argv[j] as string, argv[i] as string];
          break;
        }
        case 3:
          argv.splice(i + 1, 0, r.pick(WEIRD_TOKENS));
          break;
        default:
          argv[i] = this.mutateToken(argv[i] as string);
      }
    }
    return argv;
  }

  random(): string[] {
    const r = this.rng;
    const token = (): string => {
      const length = r.int(24);
      let s = '';
      for (let i = 0; i < length; i += 1) {
        s += r.chance(0.5) ? String.fromCharCode(r.int(256)) : String.fromCharCode(r.int(0x10000));
      }
      return s;
    };
    const argv = Array.from({ length: r.int(6) }, token);
    if (r.chance(0.5)) argv.unshift(r.pick(COMMAND_NAMES));
    return argv;
  }

  unicode(): string[] {
    const r = this.rng;
    return this.valid().map((token) => {
      if (!r.chance(0.4)) return token;
      let out = '';
      for (const ch of token) {
        const alike = LOOKALIKES[ch];
        if (alike && r.chance(0.3)) out += r.pick(alike);
        else if (r.chance(0.05)) out += r.pick(ODD_CHARS) + ch;
        else out += ch;
      }
      return out;
    });
  }

  huge(): string[] {
    const r = this.rng;
    const size = r.pick([64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 200 * 1024, 256 * 1024 + 1, 1024 * 1024]);
    const big = r.chance(0.5) ? 'a'.repeat(size) : 's3cr3t'.padEnd(size, 'é');
    switch (r.int(5)) {
      case 0:
        return ['apps:info', big];
      case 1:
        return ['config:set', 'myapp', `BIG=${big}`];
      case 2:
        return ['releases', 'myapp', '--limit', big];
      case 3:
        return ['config:set', 'myapp', ...Array.from({ length: 5 }, (_, i) => `K${i}=${'x'.repeat(60 * 1024)}`)];
      default:
        return [big];
    }
  }

  flagSoup(): string[] {
    const r = this.rng;
    const argv = [r.pick(COMMAND_NAMES)];
    for (let n = r.int(9); n > 0; n -= 1) {
      const flag = r.pick(['--json', '--help', '-h', '-a', '--app', '--limit', '-n', '--env', '--confirm', '--since', '--user', '-u', '-p', '--image', '--', '--limt', '--jsno', '-x', '--app=myapp']);
      argv.push(flag);
      if (r.chance(0.6)) argv.push(r.chance(0.5) ? r.pick(WEIRD_TOKENS) : r.pick([...FUZZ_APPS, ...KEYS.map((k) => `${k}=${this.secret()}`)]));
    }
    return argv;
  }

  /** Slack text for argv: quoted so it parses back, except when it deliberately does not. */
  toText(argv: readonly string[]): string {
    const r = this.rng;
    const parts = argv.map((token) => {
      if (token.length > 0 && !/[\s'"\\]/u.test(token) && r.chance(0.8)) return token;
      if (!token.includes("'") && r.chance(0.5)) return `'${token}'`;
      return `"${token.replace(/[\\"]/g, '\\$&')}"`;
    });
    let text = parts.join(r.chance(0.9) ? ' ' : r.pick(['  ', '\t', '\n', '\u00a0']));
    if (r.chance(0.03)) text += r.pick(['"', "'", ' "unterminated', " 'x"]);
    return text;
  }

  next(): FuzzCase {
    const r = this.rng;
    const roll = r.next();
    let kind: FuzzKind;
    let argv: string[];
    if (roll < 0.35) [kind, argv] = ['valid', this.valid()];
    else if (roll < 0.6) [kind, argv] = ['mutated', this.mutated()];
    else if (roll < 0.7) [kind, argv] = ['random', this.random()];
    else if (roll < 0.8) [kind, argv] = ['unicode', this.unicode()];
    // Huge inputs are slow-ish (a megabyte each): keep them to about 1 in 200.
    else if (roll < 0.805) [kind, argv] = ['huge', this.huge()];
    else [kind, argv] = ['flag-soup', this.flagSoup()];
    const index = this.index;
    this.index += 1;
    return { index, kind, argv, text: this.toText(argv) };
  }
}

/**
 * Values that must never be shown: the value of every KEY=VALUE argument as the front door
 * sees the arguments (flags before a bare `--` excluded: `--flag=value` is not a secret).
 */
export function protectedValues(tokens: readonly string[]): string[] {
  const out: string[] = [];
  let afterDoubleDash = false;
  for (const token of tokens) {
    if (token === '--') afterDoubleDash = true;
    const eq = token.indexOf('=');
    if (eq === -1 || (token.startsWith('-') && token.length > 1 && !afterDoubleDash)) continue;
    const value = token.slice(eq + 1);
    // Short values (`web=3`, `A=1`) are not what the generator uses for secrets.
    if (new RegExp(SECRET_MARKER_RE.source).test(value)) out.push(value);
  }
  return out;
}

/** What the fuzz loop needs from a front door plus its state. */
export interface FuzzTarget {
  /** The terminal front door (an actor on a terminal). */
  runArgv(argv: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** The Slack path: text in, for an actor not on a terminal; `output` is everything it would show. */
  runText(text: string): Promise<{ outcome: 'ok' | 'refused' | 'failed'; internal: boolean; output: string; command: string | null }>;
  /** The state as canonical text; equal before and after means nothing changed. */
  snapshot(): string;
  /** Audit events so far, oldest first. */
  auditEvents(): ReadonlyArray<{ command: string; outcome: string }>;
  /** Log text written since the last call. */
  drainLog(): string;
  /** Config values currently stored (for the "stored secrets never shown" check). */
  storedSecrets(): Set<string>;
  /** Names of the commands without side effects. */
  readCommands: ReadonlySet<string>;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  byKind: Record<string, number>;
  exitCodes: Record<string, number>;
}

function describeCase(seed: number, c: FuzzCase, mode: string): string {
  const show = JSON.stringify(mode === 'text' ? c.text : c.argv);
  return `seed=${seed} case=${c.index} kind=${c.kind} mode=${mode} input=${show.length > 300 ? `${show.slice(0, 300)}…` : show} (replay: FUZZ_SEED=${seed})`;
}

function markersOf(values: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const value of values) for (const m of value.matchAll(SECRET_MARKER_RE)) out.add(m[0]);
  return out;
}

function assertNoSecrets(text: string, protect: readonly string[], stored: Set<string>, where: string): void {
  for (const value of protect) assert.ok(!text.includes(value), `${where} shows the secret value ${JSON.stringify(value)}`);
  for (const m of text.matchAll(SECRET_MARKER_RE)) {
    assert.ok(!stored.has(m[0]), `${where} shows the stored config value marker ${m[0]}`);
  }
}

/**
 * Runs `count` generated command lines against `makeTarget()` (a fresh target every
 * `resetEvery` cases keeps the state small), alternating terminal argv and Slack text.
 */
export async function runFuzz(opts: {
  seed: number;
  count: number;
  makeTarget: () => FuzzTarget | Promise<FuzzTarget>;
  resetEvery?: number;
}): Promise<FuzzReport> {
  const fuzzer = new CommandFuzzer(opts.seed);
  const report: FuzzReport = { seed: opts.seed, cases: 0, byKind: {}, exitCodes: {} };
  let target = await opts.makeTarget();
  for (let i = 0; i < opts.count; i += 1) {
    if (opts.resetEvery !== undefined && i > 0 && i % opts.resetEvery === 0) target = await opts.makeTarget();
    const c = fuzzer.next();
    const mode = i % 2 === 0 ? 'argv' : 'text';
    const where = describeCase(opts.seed, c, mode);
    const before = target.snapshot();
    const eventsBefore = target.auditEvents().length;
    const storedBefore = markersOf(target.storedSecrets());
    const tokens = mode === 'argv' ? c.argv : scanCommandLine(c.text).tokens;
    const protect = protectedValues(tokens);
    let ok: boolean;
    let command: string | null;
    if (mode === 'argv') {
      const r = await target.runArgv(c.argv);
      report.exitCodes[r.exitCode] = (report.exitCodes[r.exitCode] ?? 0) + 1;
      assert.ok(r.exitCode === 0 || r.exitCode === 1, `${where}: exit ${r.exitCode}: ${r.stderr}`);
      ok = r.exitCode === 0;
      command = c.argv[0] ?? null;
      assertNoSecrets(r.stderr, protect, storedBefore, `${where}: stderr`);
      // config:get prints the value it was asked for: that is its job, on a terminal.
      if (!(ok && command === 'config:get')) assertNoSecrets(r.stdout, protect, storedBefore, `${where}: stdout`);
      if (!ok) assert.equal(r.stdout, '', `${where}: a refusal printed to stdout`);
    } else {
      const r = await target.runText(c.text);
      assert.ok(!r.internal, `${where}: internal error: ${r.output}`);
      ok = r.outcome === 'ok';
      command = r.command;
      // Off the terminal even config:get must not show a stored value (it is refused).
      assertNoSecrets(r.output, protect, storedBefore, `${where}: reply`);
    }
    const events = target.auditEvents();
    assert.equal(events.length, eventsBefore + 1, `${where}: expected exactly one audit event`);
    const event = events[events.length - 1] as { command: string; outcome: string };
    assert.equal(event.outcome === 'ok', ok, `${where}: audit outcome ${event.outcome}`);
    assert.ok(event.command.length <= 4000, `${where}: audit text of ${event.command.length} chars`);
    assertNoSecrets(JSON.stringify(event), protect, storedBefore, `${where}: audit event`);
    assertNoSecrets(target.drainLog(), protect, storedBefore, `${where}: log`);
    if (!ok || (command !== null && target.readCommands.has(command))) {
      assert.equal(target.snapshot(), before, `${where}: state changed by a ${ok ? 'read' : 'refused'} command`);
    }
    report.cases += 1;
    report.byKind[c.kind] = (report.byKind[c.kind] ?? 0) + 1;
  }
  return report;
}
