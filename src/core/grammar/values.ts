/**
 * Zod schemas for the arguments commands share. Raw arguments arrive as strings; each schema
 * says in one line what is wrong and, where it can, what was probably meant. Messages show an
 * argument only through `shown`, so a secret value never appears in a refusal.
 */
import { z } from 'zod';
import { CONFIG_KEY_RE, ConfigKey, DomainName, ENVIRONMENTS, SlotName } from '../names.ts';
import type { Environment } from '../names.ts';
import { codePointLabel } from './limits.ts';
import { shown } from './parse.ts';
import { suggest } from './suggest.ts';

type Check = (value: string) => string | null;

/** A string schema that fails with the message `check` returns (null when fine). */
function checkedString(check: Check): z.ZodType<string, string> {
  return z.string().superRefine((value, ctx) => {
    const problem = check(value);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** Why `name` is not a slot name, or null. Explains look-alikes instead of just refusing. */
export function appNameProblem(name: string): string | null {
  if (name.length === 0) return 'the app name is empty';
  const nonAscii = /[^\x20-\x7e]/u.exec(name);
  if (nonAscii) {
    return `${shown(name)} contains ${codePointLabel(nonAscii[0])}, which is not ASCII: app names use only a-z, 0-9 and -`;
  }
  if (name.length > 40) return `app names are at most 40 characters (this one has ${name.length})`;
  if (/[A-Z]/.test(name) && SlotName.safeParse(name.toLowerCase()).success) {
    return `app names are lowercase: did you mean \`${name.toLowerCase()}\`?`;
  }
  if (!/^[a-z]/.test(name)) return `${shown(name)}: app names start with a lowercase letter`;
  const parsed = SlotName.safeParse(name);
  if (!parsed.success) return `${shown(name)}: app names use only a-z, 0-9 and -`;
  return null;
}

/** An app (slot) name: `myapp`, `myapp-staging`, `myapp-pr-123`. */
export const AppName = checkedString(appNameProblem);

/** `--env`: one of the environments, with a suggestion for `prod` and friends. */
export const EnvironmentArg: z.ZodType<Environment | undefined, string | undefined> = z
  .string()
  .optional()
  .transform((value, ctx): Environment | undefined => {
    if (value === undefined) return undefined;
    const found = ENVIRONMENTS.find((e) => e === value);
    if (found) return found;
    const guess = suggest(value, ENVIRONMENTS);
    ctx.addIssue({
      code: 'custom',
      message: `${shown(value)} is not an environment (${ENVIRONMENTS.join(', ')})${guess === undefined ? '' : `; did you mean \`${guess}\`?`}`,
    });
    return z.NEVER;
  });

/** `--limit N`: a whole number from 1 to `max`, `fallback` when absent. */
export function limitArg(fallback: number, max: number): z.ZodType<number, string | undefined> {
  return z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return fallback;
      const n = /^\d{1,7}$/.test(value) ? Number(value) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from 1 to ${max} (got ${shown(value)})` });
        return z.NEVER;
      }
      return n;
    });
}

/** A release version as `v42` or `42`. */
export const ReleaseVersionArg: z.ZodType<number, string> = z.string().transform((value, ctx) => {
  const m = /^v?(\d{1,9})$/.exec(value);
  const n = m ? Number(m[1]) : NaN;
  if (!Number.isInteger(n) || n < 1) {
    ctx.addIssue({ code: 'custom', message: `${shown(value)} is not a release version (like v42 or 42)` });
    return z.NEVER;
  }
  return n;
});

function keyProblem(key: string): string | null {
  if (key.length === 0) return 'a config key is empty';
  if (!CONFIG_KEY_RE.test(key) || !ConfigKey.safeParse(key).success) {
    const upper = key.toUpperCase();
    const hint = CONFIG_KEY_RE.test(upper) && upper.length <= 255 ? `; did you mean \`${upper}\`?` : ' (for example DATABASE_URL)';
    return `${shown(key)} is not a valid config key: keys match [A-Z_][A-Z0-9_]*${hint}`;
  }
  return null;
}

/** `KEY=VALUE…` (at least one): pairs in order, keys valid and distinct. Values may be empty. */
export const ConfigPairsArg: z.ZodType<Array<[string, string]>, string[]> = z
  .array(z.string())
  .min(1, 'give at least one KEY=VALUE')
  .transform((tokens, ctx) => {
    const pairs: Array<[string, string]> = [];
    const seen = new Set<string>();
    for (const [i, token] of tokens.entries()) {
      const eq = token.indexOf('=');
      if (eq === -1) {
        // The text is not shown: a lone argument here is often a pasted secret.
        ctx.addIssue({ code: 'custom', message: `pair ${i + 1} is not KEY=VALUE (missing \`=\`)` });
        continue;
      }
      const key = token.slice(0, eq);
      const problem = keyProblem(key);
      if (problem !== null) {
        ctx.addIssue({ code: 'custom', message: key.length === 0 ? `pair ${i + 1} has an empty key` : problem });
        continue;
      }
      if (seen.has(key)) {
        ctx.addIssue({ code: 'custom', message: `\`${key}\` is given more than once` });
        continue;
      }
      seen.add(key);
      pairs.push([key, token.slice(eq + 1)]);
    }
    return pairs;
  });

/** One config key. */
export const ConfigKeyArg: z.ZodType<string, string> = checkedString((key) => {
  if (key.includes('=')) return `give a key only, not KEY=VALUE (${shown(key)})`;
  return keyProblem(key);
});

/** `KEY…` (at least one), distinct. */
export const ConfigKeysArg: z.ZodType<string[], string[]> = z
  .array(z.string())
  .min(1, 'give at least one KEY')
  .transform((keys, ctx) => {
    const seen = new Set<string>();
    for (const key of keys) {
      const problem = key.includes('=') ? `give keys only, not KEY=VALUE (${shown(key)})` : keyProblem(key);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
      else if (seen.has(key)) ctx.addIssue({ code: 'custom', message: `\`${key}\` is given more than once` });
      seen.add(key);
    }
    return [...seen];
  });

/** A domain name; DNS is case-insensitive, so `WWW.Example.com` is taken as `www.example.com`. */
export const DomainArg: z.ZodType<string, string> = z.string().transform((value, ctx) => {
  const lower = value.toLowerCase();
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(lower) || lower.includes('/')) {
    ctx.addIssue({ code: 'custom', message: `${shown(value)}: give the hostname only, without scheme or path` });
    return z.NEVER;
  }
  const parsed = DomainName.safeParse(lower);
  if (!parsed.success) {
    const why = /[^\x20-\x7e]/u.test(value)
      ? 'international names must be given in punycode (xn--…)'
      : 'domains are lowercase hostnames like www.example.com (no port, no scheme, no path)';
    ctx.addIssue({ code: 'custom', message: `${shown(value)}: ${why}` });
    return z.NEVER;
  }
  return parsed.data;
});

/** `--since`: an absolute time or a span back from now. Resolve with `resolveSince`. */
export type Since = { kind: 'absolute'; iso: string } | { kind: 'relative'; ms: number; text: string };

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/** `2024-05-01`, `2024-05-01T10:00:00Z` (UTC unless an offset is given), or `30m`, `24h`, `7d`, `2w`. */
export const SinceArg: z.ZodType<Since | undefined, string | undefined> = z
  .string()
  .optional()
  .transform((value, ctx): Since | undefined => {
    if (value === undefined) return undefined;
    const rel = /^(\d{1,5})([mhdw])$/.exec(value);
    if (rel) {
      const ms = Number(rel[1]) * (UNIT_MS[rel[2] as string] ?? 0);
      if (ms > 0) return { kind: 'relative', ms, text: value };
    }
    const m = ISO_RE.exec(value);
    if (m) {
      const [, y, mo, d, h = '00', mi = '00', s = '00', zone] = m;
      const text = `${y}-${mo}-${d}T${h}:${mi}:${s}${zone ?? 'Z'}`;
      const date = new Date(text);
      // Round-trip the calendar date so 2024-02-31 is refused rather than rolled into March.
      const calendar = new Date(`${y}-${mo}-${d}T00:00:00Z`);
      const sameDay = calendar.getUTCDate() === Number(d) && calendar.getUTCMonth() + 1 === Number(mo);
      if (!Number.isNaN(date.getTime()) && sameDay && Number(h) < 24 && Number(mi) < 60 && Number(s) < 60) {
        return { kind: 'absolute', iso: date.toISOString() };
      }
    }
    ctx.addIssue({
      code: 'custom',
      message: `${shown(value)} is not a time: use a date like 2024-05-01, a UTC time like 2024-05-01T10:00:00Z, or a span like 30m, 24h, 7d`,
    });
    return z.NEVER;
  });

export function resolveSince(since: Since, now: Date): string {
  return since.kind === 'absolute' ? since.iso : new Date(now.getTime() - since.ms).toISOString();
}

/** A user as the audit trail knows them: an id (`slack:U123`, `cli:alice`) or a display name. */
export const UserArg: z.ZodType<string | undefined, string | undefined> = checkedString((user) => {
  if (user.length === 0) return 'give a user id or name';
  if (user.length > 200) return 'user ids are at most 200 characters';
  // KEY=VALUE here is a mistyped secret far more likely than a user; do not echo it.
  if (user.includes('=')) return 'user ids and names do not contain `=`';
  return null;
}).optional();
