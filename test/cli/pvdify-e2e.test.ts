/**
 * Issue #2 end to end through the real executables: `node bin/pvdify.js …` and
 * `node bin/pvdifyd.js …` as child processes over one temp state dir (no router, no systemd, no
 * podman, cloudflared replaced by its recording stub). The tests in this file run in order and
 * build on each other's state, like an operator's session.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, systemClock } from '../../src/core/ports/clock.ts';
import { createAgeVault } from '../../src/store/sops/age-vault.ts';
import { identityToRecipient, readIdentityFile } from '../../src/store/sops/age-keys.ts';
import { openStateStore } from '../../src/store/state-store.ts';
import {
  createCliEnv,
  filesContaining,
  listFiles,
  REPO_ROOT,
  snapshotStateDir,
  STACK_TRACE_RE,
  type CliEnv,
  type RunResult,
} from '../support/cli-env.ts';
import { installCloudflaredStub, type CloudflaredStub } from '../support/cloudflared-stub/install.ts';

const DATABASE_URL = 'postgres://u:hunter2-secret@db/x';
const API_KEY = 'sk_live_abcdef123456';
/** Every value, and the parts of them someone might grep for. */
const SECRET_NEEDLES = [DATABASE_URL, API_KEY, 'hunter2-secret', 'sk_live_abcdef'];
const USER = userInfo().username;

function json<T>(r: RunResult, what: string): T {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A refusal: exit 1, nothing on stdout, an `error:` line first, only error/usage/hint lines, no stack. */
function assertRefused(r: RunResult, pattern: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: expected exit 1, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout, '', `${what}: a refusal printed to stdout`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^error: \S/, `${what}: first line is not the reason: ${r.stderr}`);
  assert.match(lines[0] ?? '', pattern, `${what}: the reason does not say why: ${r.stderr}`);
  for (const line of lines.slice(1)) assert.match(line, /^(usage|hint): /, `${what}: unexpected stderr line ${JSON.stringify(line)}`);
  assert.doesNotMatch(r.stderr, STACK_TRACE_RE, `${what}: stack trace on stderr`);
  assert.ok(r.stderr.length < 2000, `${what}: ${r.stderr.length} chars of stderr (the input echoed back?)`);
}

interface AppJson {
  name: string;
  environment: string;
  bind_port: number;
  domains: string[];
  config_version: number | null;
}
interface AuditJson {
  seq: number;
  time: string;
  actor_id: string;
  actor_name: string;
  command: string;
  app: string | null;
  outcome: string;
  detail: string | null;
}

describe('pvdify and pvdifyd end to end (issue #2)', () => {
  let env: CliEnv;
  let stub: CloudflaredStub;
  const pvdify = (...args: string[]) => env.run('pvdify', args);
  const pvdifyd = (...args: string[]) => env.run('pvdifyd', args);
  const state = (...parts: string[]) => join(env.stateDir, ...parts);

  before(async () => {
    env = createCliEnv({ prefix: 'pvdify-e2e-' });
    const stubDir = join(env.dir, 'cloudflared');
    mkdirSync(stubDir);
    stub = await installCloudflaredStub(stubDir);
    env.env.PVDIFY_CLOUDFLARED = stub.path;
    Object.assign(env.env, stub.env);
    await env.keygen();
  });
  after(() => env.cleanup());

  it('creates production, staging and preview slots with consecutive router ports', async () => {
    for (const name of ['myapp', 'myapp-staging', 'myapp-pr-12']) {
      const r = await pvdify('apps:create', name);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Created ${name} `));
    }
    const { apps } = json<{ apps: AppJson[] }>(await pvdify('apps', '--json'), 'apps --json');
    assert.deepEqual(
      apps.map((a) => [a.name, a.environment, a.bind_port]).sort(),
      [
        ['myapp', 'production', 3000],
        ['myapp-pr-12', 'preview', 3002],
        ['myapp-staging', 'staging', 3001],
      ],
    );
    for (const name of ['myapp', 'myapp-staging', 'myapp-pr-12']) assert.ok(existsSync(state('apps', `${name}.yaml`)), name);
  });

  it('refuses bad input with a one-line reason and changes nothing', async () => {
    const big = `BIG=${'x'.repeat(120 * 1024)}`;
    // 17 arguments of 60 KiB: each under the per-argument limit, together over 1 MB.
    const many = Array.from({ length: 17 }, (_, i) => `K${i}=${'y'.repeat(60 * 1024)}`);
    const cases: [string[], RegExp][] = [
      [['apps:create', '../x'], /`\.\.\/x`.*lowercase letter/],
      [['apps:create', 'a/b'], /`a\/b`.*a-z, 0-9 and -/],
      [['apps:create', 'MyApp'], /lowercase.*`myapp`/],
      [['apps:create', 'my\u0430pp'], /U\+0430/],
      [['apps:create', 'a'.repeat(41)], /at most 40 characters/],
      [['config:set', 'myapp', '=v'], /empty key/],
      [['config:set', 'myapp', 'lower=v'], /`lower` is not a valid config key.*`LOWER`/],
      [['config:set', 'myapp', 'A=1', 'A=2'], /`A` is given more than once/],
      [['config:set', 'myapp', 'NOEQUALS'], /not KEY=VALUE/],
      [['releases', 'myapp', '--limit', '-5'], /--limit.*whole number/],
      [['releases', 'myapp', '--limit', 'abc'], /--limit.*`abc`/],
      [['apps:create', 'x', '--env', 'prod'], /did you mean `production`/i],
      [['config:set', 'myapp', big], /argument too long/],
      [['config:set', 'myapp', ...many], /command line too long/],
      [['apps:creat', 'x'], /unknown command `apps:creat`\. did you mean `apps:create`/i],
      [['releases', 'myapp', '--limt', '5'], /unknown flag `--limt`.*did you mean `--limit`/i],
      [['apps:create', 'myapp'], /myapp already exists/],
    ];
    for (const [args, pattern] of cases) {
      const what = `pvdify ${args.join(' ').slice(0, 80)}`;
      const before = snapshotStateDir(env.stateDir);
      const r = await pvdify(...args);
      assertRefused(r, pattern, what);
      assert.equal(snapshotStateDir(env.stateDir), before, `${what}: changed the state`);
    }
    assert.deepEqual(readdirSync(state('apps')).sort(), ['myapp-pr-12.yaml', 'myapp-staging.yaml', 'myapp.yaml']);
  });

  it('refuses a config value with a real newline and names the key', async () => {
    const before = snapshotStateDir(env.stateDir);
    const r = await pvdify('config:set', 'myapp', 'MULTI=a\nb');
    assertRefused(r, /\bMULTI\b/, 'config:set MULTI=a\\nb');
    assert.equal(snapshotStateDir(env.stateDir), before);
  });

  it('config:set writes a new SOPS version without the values anywhere else; no release before a deploy', async () => {
    const r = await pvdify('config:set', 'myapp', `DATABASE_URL=${DATABASE_URL}`, `API_KEY=${API_KEY}`);
    assert.equal(r.code, 0, r.stderr);
    for (const s of SECRET_NEEDLES) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), `config:set echoed ${s}`);
    const v1 = readFileSync(state('config', 'myapp', 'v1.sops.yaml'), 'utf8');
    assert.match(v1, /^API_KEY: ENC\[AES256_GCM,/m);
    assert.match(v1, /^DATABASE_URL: ENC\[AES256_GCM,/m);
    for (const s of SECRET_NEEDLES) assert.ok(!v1.includes(s), `v1.sops.yaml holds ${s} in clear`);

    assert.deepEqual(json<{ releases: unknown[] }>(await pvdify('releases', 'myapp', '--json'), 'releases').releases, []);
    assert.deepEqual(readdirSync(state('releases')), [], 'a release file was written for an app never deployed');

    const config = await pvdify('config', 'myapp', '--json');
    const shown = json<{ config: { key: string; masked: string }[] }>(config, 'config --json');
    assert.deepEqual(shown.config.map((c) => c.key), ['API_KEY', 'DATABASE_URL']);
    for (const s of SECRET_NEEDLES) assert.ok(!config.stdout.includes(s), `config --json shows ${s}`);
    for (const c of shown.config) assert.match(c.masked, /•/);

    const get = await pvdify('config:get', 'myapp', 'API_KEY');
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim(), API_KEY);

    const decrypted = await pvdifyd('sops', 'decrypt', state('config', 'myapp', 'v1.sops.yaml'));
    assert.equal(decrypted.code, 0, decrypted.stderr);
    assert.match(decrypted.stdout, new RegExp(`^API_KEY: ${API_KEY}$`, 'm'));
    assert.match(decrypted.stdout, /^DATABASE_URL: postgres:\/\/u:hunter2-secret@db\/x$/m);

    // A plain byte search of every file: the values exist only inside SOPS ENC[] (i.e. nowhere).
    for (const s of SECRET_NEEDLES) {
      assert.deepEqual(filesContaining(env.stateDir, s), [], `${s} found in the state dir`);
      assert.ok(!readFileSync(env.logFile, 'utf8').includes(s), `${s} found in cli.log`);
    }
    assert.ok(listFiles(env.stateDir).some((f) => f.startsWith('audit/')), 'no audit file to search');
    assert.ok(existsSync(state('pvdifyd.db')), 'no index to search');
  });

  it('config:unset writes v2 without the key and leaves v1 as it was', async () => {
    const v1Before = readFileSync(state('config', 'myapp', 'v1.sops.yaml'));
    const r = await pvdify('config:unset', 'myapp', 'API_KEY');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(state('config', 'myapp', 'v1.sops.yaml')), v1Before);
    const identities = await readIdentityFile(env.ageKeyFile);
    const vault = createAgeVault({ identities, recipients: [await identityToRecipient(identities[0] as string)] });
    const v2 = await vault.decrypt(readFileSync(state('config', 'myapp', 'v2.sops.yaml'), 'utf8'));
    assert.deepEqual(v2, { DATABASE_URL });
    assert.deepEqual(await vault.decrypt(v1Before.toString('utf8')), { API_KEY, DATABASE_URL });
  });

  it('domains: add through the edge stub, a second owner is refused naming the first', async () => {
    const add = await pvdify('domains:add', 'myapp', 'www.example.com');
    assert.equal(add.code, 0, add.stderr);
    const { domains } = json<{ domains: { domain: string; app_name: string; status: string }[] }>(await pvdify('domains', 'myapp', '--json'), 'domains');
    assert.deepEqual(domains.map((d) => [d.domain, d.app_name, d.status]), [['www.example.com', 'myapp', 'active']]);
    const calls = await stub.calls();
    assert.ok(calls.some((c) => c.argv.join(' ') === 'tunnel route dns pvdify-apps www.example.com'), JSON.stringify(calls));
    assert.ok(calls.some((c) => c.argv.includes('validate') && c.config?.includes('hostname: www.example.com')), 'ingress validate not run');
    assert.match(readFileSync(state('tunnels', 'pvdify-apps.yml'), 'utf8'), /hostname: www\.example\.com\n\s+service: http:\/\/127\.0\.0\.1:3000\n/);

    const before = snapshotStateDir(env.stateDir);
    const conflict = await pvdify('domains:add', 'myapp-staging', 'www.example.com');
    assertRefused(conflict, /www\.example\.com.*\(myapp\)/, 'domains:add to a second app');
    assert.equal(snapshotStateDir(env.stateDir), before);
  });

  it('audit: by app, by user, since; outcomes and redacted command texts', async () => {
    const byApp = json<{ events: AuditJson[] }>(await pvdify('audit', '--app', 'myapp', '--json'), 'audit --app').events;
    assert.ok(byApp.length > 0);
    for (const e of byApp) assert.equal(e.app, 'myapp', JSON.stringify(e));
    const commands = byApp.map((e) => `${e.outcome} ${e.command}`);
    for (const expected of [
      'ok apps:create myapp',
      `ok config:set myapp DATABASE_URL=*** API_KEY=***`,
      'ok config:unset myapp API_KEY',
      'ok domains:add myapp www.example.com',
      'refused apps:create myapp',
    ]) {
      assert.ok(commands.includes(expected), `${expected} missing from ${JSON.stringify(commands, null, 1)}`);
    }
    // Newest first.
    assert.deepEqual(byApp.map((e) => e.seq), [...byApp.map((e) => e.seq)].sort((a, b) => b - a));

    const byUser = json<{ events: AuditJson[] }>(await pvdify('audit', '--user', USER, '--limit', '1000', '--json'), 'audit --user').events;
    assert.ok(byUser.length >= 20, `${byUser.length} events for ${USER}`);
    for (const e of byUser) assert.equal(e.actor_id, `cli:${USER}`);

    const since = json<{ events: AuditJson[] }>(await pvdify('audit', '--since', '1h', '--limit', '1000', '--json'), 'audit --since').events;
    const hourAgo = Date.now() - 3_600_000;
    for (const e of since) assert.ok(Date.parse(e.time) >= hourAgo, e.time);
    assert.ok(since.length >= byUser.length, 'every event of this run is within the hour');

    // The refusals of the bad-input test are on the trail, redacted and bounded.
    const commandsAll = since.map((e) => `${e.outcome} ${e.command}`);
    for (const expected of ['refused config:set myapp lower=***', 'refused config:set myapp A=*** A=***', 'refused apps:creat x', 'refused releases myapp --limt 5']) {
      assert.ok(commandsAll.includes(expected), `${expected} missing`);
    }
    const huge = since.filter((e) => e.command.startsWith('config:set myapp BIG=') || e.command.startsWith('config:set myapp K0='));
    assert.equal(huge.length, 2, 'both oversized command lines are audited');
    for (const e of huge) {
      assert.equal(e.outcome, 'refused');
      assert.ok(e.command.length <= 4000, `${e.command.length} chars of audit text`);
      assert.ok(!e.command.includes('xxxxxxxx') && !e.command.includes('yyyyyyyy'), 'an oversized value reached the audit text');
    }
    for (const r of [byApp, byUser, since]) for (const s of SECRET_NEEDLES) assert.ok(!JSON.stringify(r).includes(s), `audit shows ${s}`);
  });

  describe('rebuild-index gives the same answers', () => {
    // Releases only exist after a deploy, which these tests never do: write two through the store.
    before(() => {
      const store = openStateStore({ root: env.stateDir, clock: systemClock, log: silentLogger });
      try {
        for (const [i, status] of (['succeeded', 'failed'] as const).entries()) {
          const r = store.createRelease({
            app: 'myapp-staging',
            kind: 'deploy',
            image: `ghcr.io/org/app:v${i + 1}`,
            config_version: null,
            status: 'deploying',
            description: `Deploy ghcr.io/org/app:v${i + 1}`,
            source: 'cli',
            created_by: `cli:${USER}`,
            created_by_name: USER,
            approved_by: null,
            rollback_of: null,
          });
          store.updateReleaseStatus('myapp-staging', r.version, {
            status,
            finished: true,
            ...(status === 'failed' ? { error: { step: 'health', message: 'no answer on /health' } } : {}),
          });
        }
        store.updateApp('myapp-staging', (a) => ({ ...a, image: 'ghcr.io/org/app:v1', current_release: 1 }));
      } finally {
        store.close();
      }
    });

    const READS: string[][] = [
      ['apps', '--json'],
      ['apps:info', 'myapp-staging', '--json'],
      ['releases', 'myapp-staging', '--json'],
      ['config', 'myapp', '--json'],
      ['domains', 'myapp', '--json'],
      ['audit', '--limit', '1000', '--json'],
    ];
    let baseline: Map<string, unknown>;
    let baselineMaxSeq = 0;

    /**
     * Every read answer, parsed. The one thing that legitimately differs between rounds is the
     * audit trail itself: each read appends its own event, so the audit answer is compared on
     * the events that existed when the baseline was taken (seq ≤ its newest).
     */
    async function readAll(): Promise<Map<string, unknown>> {
      const out = new Map<string, unknown>();
      for (const args of READS) {
        let value = json<unknown>(await pvdify(...args), args.join(' '));
        if (args[0] === 'audit') {
          const events = (value as { events: AuditJson[] }).events;
          if (baselineMaxSeq === 0) baselineMaxSeq = Math.max(...events.map((e) => e.seq));
          value = { ...(value as object), events: events.filter((e) => e.seq <= baselineMaxSeq) };
        }
        out.set(args.join(' '), value);
      }
      return out;
    }

    function assertSameAnswers(now: Map<string, unknown>, when: string): void {
      for (const [command, answer] of baseline) assert.deepEqual(now.get(command), answer, `${command} differs ${when}`);
    }

    it('answers every read command the same after `pvdifyd rebuild-index`', async () => {
      baseline = await readAll();
      const releases = (baseline.get('releases myapp-staging --json') as { releases: { version: number; status: string }[] }).releases;
      assert.deepEqual(releases.map((r) => [r.version, r.status]), [[2, 'failed'], [1, 'succeeded']]);
      const apps = (baseline.get('apps --json') as { apps: AppJson[] }).apps;
      assert.deepEqual(apps.find((a) => a.name === 'myapp')?.domains, ['www.example.com']);

      const r = await pvdifyd('rebuild-index');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^rebuilt .*pvdifyd\.db in \d+ ms: 3 apps, 2 releases, 2 config versions, 0 approvals, \d+ audit events$/m);
      assertSameAnswers(await readAll(), 'after rebuild-index');
    });

    it('rebuilds a deleted index on the next command', async () => {
      rmSync(state('pvdifyd.db'));
      assertSameAnswers(await readAll(), 'after deleting pvdifyd.db');
      assert.ok(existsSync(state('pvdifyd.db')));
    });

    it('moves a garbage index aside and rebuilds it', async () => {
      const garbage = 'this is not an SQLite database\n'.repeat(300);
      writeFileSync(state('pvdifyd.db'), garbage);
      assertSameAnswers(await readAll(), 'after writing garbage into pvdifyd.db');
      const aside = readdirSync(env.stateDir).filter((n) => n.startsWith('pvdifyd.db.corrupt-'));
      assert.equal(aside.length, 1, readdirSync(env.stateDir).join(' '));
      assert.equal(readFileSync(state(aside[0] as string), 'utf8'), garbage);
    });
  });

  it('survives hostile YAML in apps/: reads skip it, rebuild-index names it, nothing rewrites it', async () => {
    const fixtures = join(REPO_ROOT, 'test', 'store', 'fixtures', 'yaml');
    copyFileSync(join(fixtures, 'anchor-bomb.yaml'), state('apps', 'bomb.yaml'));
    copyFileSync(join(fixtures, 'js-function-tag.yaml'), state('apps', 'evil.yaml'));
    const fingerprint = () =>
      ['bomb.yaml', 'evil.yaml'].map((f) => {
        const p = state('apps', f);
        return `${f} ${statSync(p).mtimeMs} ${readFileSync(p, 'base64')}`;
      });
    const before = fingerprint();

    const apps = await pvdify('apps', '--json');
    assert.ok(apps.durationMs < 10_000, `apps took ${Math.round(apps.durationMs)} ms with an alias bomb present`);
    assert.deepEqual(json<{ apps: AppJson[] }>(apps, 'apps').apps.map((a) => a.name).sort(), ['myapp', 'myapp-pr-12', 'myapp-staging']);

    const rebuild = await pvdifyd('rebuild-index');
    assert.equal(rebuild.code, 1, `rebuild-index with bad files exited ${rebuild.code}\n${rebuild.stderr}`);
    assert.match(rebuild.stdout, /3 apps/);
    assert.match(rebuild.stderr, new RegExp(`${state('apps', 'bomb.yaml').replace(/[.]/g, '\\.')}: .*alias`, 'i'));
    assert.match(rebuild.stderr, new RegExp(`${state('apps', 'evil.yaml').replace(/[.]/g, '\\.')}: .*js/function`, 'i'));
    assert.doesNotMatch(rebuild.stderr, STACK_TRACE_RE);
    assert.deepEqual(fingerprint(), before, 'a hostile file was rewritten');
  });

  it('domains:remove takes the hostname out of the tunnel config', async () => {
    const r = await pvdify('domains:remove', 'myapp', 'www.example.com');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(readFileSync(state('tunnels', 'pvdify-apps.yml'), 'utf8'), /www\.example\.com/);
    assert.doesNotMatch(readFileSync(state('apps', 'myapp.yaml'), 'utf8'), /www\.example\.com/);
  });

  it('apps:delete needs --confirm NAME, removes everything of the app and frees its port', async () => {
    const before = snapshotStateDir(env.stateDir);
    assertRefused(await pvdify('apps:delete', 'myapp'), /--confirm myapp/, 'apps:delete without --confirm');
    assert.equal(snapshotStateDir(env.stateDir), before);

    const del = await pvdify('apps:delete', 'myapp', '--confirm', 'myapp');
    assert.equal(del.code, 0, del.stderr);
    assert.ok(!existsSync(state('apps', 'myapp.yaml')));
    assert.ok(!existsSync(state('config', 'myapp')), 'config/myapp survived the delete');
    assert.ok(!existsSync(state('releases', 'myapp')));

    const created = json<{ app: AppJson }>(await pvdify('apps:create', 'newapp', '--json'), 'apps:create newapp');
    assert.equal(created.app.bind_port, 3000);
  });

  it('never shows or stores a secret value, anywhere, after the whole session', (t) => {
    for (const s of SECRET_NEEDLES) {
      assert.deepEqual(filesContaining(env.dir, s), [], `${s} found under the test dir`);
    }
    for (const { bin, args, result } of env.transcript) {
      const printsValues = (bin === 'pvdify' && args[0] === 'config:get') || (bin === 'pvdifyd' && args[0] === 'sops');
      for (const s of SECRET_NEEDLES) {
        assert.ok(!result.stderr.includes(s), `${bin} ${args[0]}: stderr shows ${s}`);
        if (!printsValues) assert.ok(!result.stdout.includes(s), `${bin} ${args.join(' ').slice(0, 60)}: stdout shows ${s}`);
      }
    }
    assert.ok(env.transcript.length <= 70, `${env.transcript.length} processes spawned`);
    t.diagnostic(`${env.transcript.length} processes spawned so far`);
  });

  it('reports an unusable state dir clearly: exit ≠ 0, no stack trace', async () => {
    const file = join(env.dir, 'a-regular-file');
    writeFileSync(file, 'not a directory\n');
    const bad = join(file, 'state');
    // Default log location too (under the state dir): it is just as unusable.
    const r = await env.run('pvdify', ['apps:create', 'foo'], { env: { PVDIFY_STATE_DIR: bad, PVDIFY_LOG: undefined } });
    assert.notEqual(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: .*state dir/m);
    assert.ok(r.stderr.includes(bad), r.stderr);
    assert.doesNotMatch(r.stderr, STACK_TRACE_RE);
    assert.ok(r.stderr.trimEnd().split('\n').length <= 3, r.stderr);
    assert.equal(readFileSync(file, 'utf8'), 'not a directory\n');
  });
});
