import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMANDS } from '../../../commands/index.ts';
import { UsageError, parseTokens, validateArgs } from '../../../src/core/grammar/parse.ts';
import { AppName, SinceArg, appNameProblem, resolveSince } from '../../../src/core/grammar/values.ts';

function validate(argv: string[]): unknown {
  const parsed = parseTokens(argv, COMMANDS, 'pvdify');
  return validateArgs(parsed.command, parsed.raw, 'pvdify');
}

function refusal(argv: string[]): string {
  try {
    validate(argv);
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/, 'refusals are one line');
    return e.message;
  }
  assert.fail(`${JSON.stringify(argv)} was accepted`);
}

describe('app names', () => {
  it('accepts slot names up to 40 characters', () => {
    for (const name of ['myapp', 'myapp-staging', 'myapp-pr-123', 'a', `a${'b'.repeat(39)}`]) {
      assert.equal(appNameProblem(name), null, name);
      assert.deepEqual(validate(['apps:info', name]), { app: name });
    }
  });

  it('refuses path tricks, separators and bad first characters', () => {
    assert.match(refusal(['apps:info', '..']), /^NAME: `\.\.`: app names start with a lowercase letter$/);
    assert.match(refusal(['apps:info', 'a..b']), /^NAME: `a\.\.b`: app names use only a-z, 0-9 and -$/);
    assert.match(refusal(['apps:info', 'a/b']), /app names use only a-z, 0-9 and -/);
    assert.match(refusal(['apps:info', '../etc/passwd']), /app names start with a lowercase letter/);
    assert.match(refusal(['apps:info', '1app']), /app names start with a lowercase letter/);
    assert.match(refusal(['apps:info', 'my_app']), /app names use only a-z, 0-9 and -/);
    assert.match(refusal(['apps:info', '']), /^NAME: the app name is empty$/);
  });

  it('refuses uppercase and suggests the lowercase name', () => {
    assert.equal(refusal(['apps:info', 'MyApp']), 'NAME: app names are lowercase: did you mean `myapp`?');
  });

  it('refuses unicode look-alikes and names the character', () => {
    // Cyrillic а (U+0430) looks exactly like Latin a.
    assert.equal(
      refusal(['apps:info', '\u0430pp']),
      'NAME: `\u0430pp` contains U+0430, which is not ASCII: app names use only a-z, 0-9 and -',
    );
    assert.match(refusal(['apps:info', 'my\u200bapp']), /U\+200B/);
  });

  it('refuses 41 characters and more', () => {
    assert.equal(refusal(['apps:info', 'a'.repeat(41)]), 'NAME: app names are at most 40 characters (this one has 41)');
    assert.equal(AppName.safeParse('a'.repeat(5000)).success, false);
  });
});

describe('KEY=VALUE pairs', () => {
  it('splits at the first = and keeps values as given (empty and = included)', () => {
    assert.deepEqual(validate(['config:set', 'app', 'URL=postgres://a?b=c', 'EMPTY=', '_X1=y']), {
      app: 'app',
      pairs: [
        ['URL', 'postgres://a?b=c'],
        ['EMPTY', ''],
        ['_X1', 'y'],
      ],
    });
  });

  it('refuses a pair without = and does not echo it (it is often a pasted secret)', () => {
    const msg = refusal(['config:set', 'app', 'A=1', 'hunter2']);
    assert.equal(msg, 'KEY=VALUE: pair 2 is not KEY=VALUE (missing `=`)');
  });

  it('refuses an empty key', () => {
    assert.equal(refusal(['config:set', 'app', '=hunter2']), 'KEY=VALUE: pair 1 has an empty key');
  });

  it('refuses invalid keys, suggests the uppercase one, and never shows the value', () => {
    const msg = refusal(['config:set', 'app', 'database_url=hunter2']);
    assert.match(msg, /`database_url` is not a valid config key: keys match \[A-Z_\]\[A-Z0-9_\]\*; did you mean `DATABASE_URL`\?/);
    assert.doesNotMatch(msg, /hunter2/);
    assert.match(refusal(['config:set', 'app', '1KEY=x']), /`1KEY` is not a valid config key/);
    assert.match(refusal(['config:set', 'app', 'MY-KEY=x']), /`MY-KEY` is not a valid config key/);
  });

  it('refuses a key given twice in one command', () => {
    const msg = refusal(['config:set', 'app', 'A=hunter2', 'B=2', 'A=hunter3']);
    assert.equal(msg, 'KEY=VALUE: `A` is given more than once');
  });

  it('reports every problem at once, each under its argument', () => {
    const msg = refusal(['config:set', 'Bad', 'A=1', 'nope', 'a=2', '=3']);
    assert.equal(
      msg,
      'NAME: app names are lowercase: did you mean `bad`?; KEY=VALUE: pair 2 is not KEY=VALUE (missing `=`); ' +
        '`a` is not a valid config key: keys match [A-Z_][A-Z0-9_]*; did you mean `A`?; pair 4 has an empty key',
    );
  });

  it('refuses KEY=VALUE where only keys are expected, without the value', () => {
    const msg = refusal(['config:unset', 'app', 'A=hunter2']);
    assert.equal(msg, 'KEY: give keys only, not KEY=VALUE (`A=***`)');
    assert.equal(refusal(['config:get', 'app', 'A=hunter2']), 'KEY: give a key only, not KEY=VALUE (`A=***`)');
    assert.equal(refusal(['config:unset', 'app', 'A', 'A']), 'KEY: `A` is given more than once');
  });
});

describe('absurd flag values', () => {
  for (const value of ['-5', '0', '1001', '1e99', 'abc', '', '5.5', '0x10', ' 5']) {
    it(`refuses --limit ${JSON.stringify(value)}`, () => {
      assert.match(refusal(['releases', 'app', '--limit', value]), /^--limit: must be a whole number from 1 to 1000 \(got `.*`\)$/);
    });
  }

  it('defaults --limit to 10 for releases and 50 for audit, and accepts 1000', () => {
    assert.deepEqual(validate(['releases', 'app']), { app: 'app', limit: 10 });
    assert.deepEqual(validate(['releases', 'app', '--limit', '1000']), { app: 'app', limit: 1000 });
    assert.deepEqual(validate(['audit']), { limit: 50 });
  });

  it('suggests production for --env prod', () => {
    assert.equal(
      refusal(['apps:create', 'app', '--env', 'prod']),
      '--env: `prod` is not an environment (production, staging, preview); did you mean `production`?',
    );
    assert.match(refusal(['apps:create', 'app', '--env', 'stagign']), /did you mean `staging`\?$/);
    assert.equal(refusal(['apps:create', 'app', '--env', 'qa']), '--env: `qa` is not an environment (production, staging, preview)');
  });

  it('accepts vN and N for a release, and nothing else', () => {
    assert.deepEqual(validate(['releases:info', 'app', 'v12']), { app: 'app', version: 12 });
    assert.deepEqual(validate(['releases:info', 'app', '12']), { app: 'app', version: 12 });
    for (const bad of ['v0', 'vv1', 'v-1', '1.0', 'latest', 'v99999999999']) {
      assert.match(refusal(['releases:info', 'app', bad]), /^vN: `.*` is not a release version \(like v42 or 42\)$/, bad);
    }
  });

  it('requires --confirm to match the app', () => {
    assert.match(refusal(['apps:delete', 'app']), /^--confirm: deleting app removes its releases, config and domains: add --confirm app$/);
    assert.equal(refusal(['apps:delete', 'app', '--confirm', 'other']), '--confirm: does not match the app name: give --confirm app');
  });
});

describe('domains', () => {
  it('lowercases hostnames and accepts wildcards', () => {
    assert.deepEqual(validate(['domains:add', 'app', 'WWW.Example.COM']), { app: 'app', domain: 'www.example.com' });
    assert.deepEqual(validate(['domains:add', 'app', '*.example.com']), { app: 'app', domain: '*.example.com' });
  });

  it('refuses URLs, ports, and non-punycode international names', () => {
    assert.match(refusal(['domains:add', 'app', 'https://example.com']), /give the hostname only, without scheme or path/);
    assert.match(refusal(['domains:add', 'app', 'example.com/x']), /without scheme or path/);
    assert.match(refusal(['domains:add', 'app', 'example.com:8080']), /domains are lowercase hostnames/);
    assert.match(refusal(['domains:add', 'app', 'münchen.de']), /punycode/);
    assert.match(refusal(['domains:add', 'app', 'localhost']), /domains are lowercase hostnames/);
  });
});

describe('--user', () => {
  it('takes an id or a name, and refuses KEY=VALUE without echoing it', () => {
    assert.deepEqual(validate(['audit', '--user', 'cli:alice']), { user: 'cli:alice', limit: 50 });
    assert.equal(refusal(['audit', '--user', 'API_KEY=hunter2']), '--user: user ids and names do not contain `=`');
    assert.equal(refusal(['audit', '--user', '']), '--user: give a user id or name');
  });
});

describe('--since', () => {
  const now = new Date('2024-05-10T12:00:00.000Z');
  const since = (value: string): string => {
    const parsed = SinceArg.safeParse(value);
    assert.ok(parsed.success && parsed.data !== undefined, value);
    return resolveSince(parsed.data, now);
  };

  it('reads spans back from now', () => {
    assert.equal(since('30m'), '2024-05-10T11:30:00.000Z');
    assert.equal(since('24h'), '2024-05-09T12:00:00.000Z');
    assert.equal(since('7d'), '2024-05-03T12:00:00.000Z');
    assert.equal(since('2w'), '2024-04-26T12:00:00.000Z');
  });

  it('reads dates and times as UTC unless they carry an offset', () => {
    assert.equal(since('2024-05-01'), '2024-05-01T00:00:00.000Z');
    assert.equal(since('2024-05-01T10:00'), '2024-05-01T10:00:00.000Z');
    assert.equal(since('2024-05-01T10:00:00Z'), '2024-05-01T10:00:00.000Z');
    assert.equal(since('2024-05-01T10:00:00+02:00'), '2024-05-01T08:00:00.000Z');
  });

  it('refuses impossible dates and other text', () => {
    for (const bad of ['2024-02-31', '2024-13-01', '2024-05-01T25:00', '0d', '7x', 'yesterday', '-7d', '']) {
      assert.match(refusal(['audit', '--since', bad]), /^--since: `.*` is not a time: use a date like 2024-05-01/, bad);
    }
  });
});
