/**
 * `pvdifyd` through the real executable (`node bin/pvdifyd.js …` as a child process): serve and
 * its signals, keygen, sops decrypt/encrypt against the upstream fixture, audit verify against
 * tampered trails, regenerate-units with the systemd supervisor (recording systemctl stub, no
 * real systemd or podman) and the usage paths.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { verifyUnitFiles } from '../../src/adapters/systemd/verify.ts';
import { instancePort } from '../../src/core/deploy/instance-ports.ts';
import { silentLogger, systemClock } from '../../src/core/ports/clock.ts';
import { createAgeVault } from '../../src/store/sops/age-vault.ts';
import { identityToRecipient, readIdentityFile } from '../../src/store/sops/age-keys.ts';
import { openStateStore } from '../../src/store/state-store.ts';
import { createCliEnv, fixturesDir, STACK_TRACE_RE, type CliEnv, waitFor } from '../support/cli-env.ts';
import { installCloudflaredStub } from '../support/cloudflared-stub/install.ts';
import { createSystemctlStub, type SystemctlStub } from '../support/systemctl-stub/index.ts';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

/** A started `pvdifyd serve`, its output so far and its exit. */
function watch(child: ChildProcess) {
  const out = { stdout: '', stderr: '', exit: null as Exit | null };
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out.stdout += c));
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (out.stderr += c));
  child.once('exit', (code, signal) => (out.exit = { code, signal, at: Date.now() }));
  return out;
}

describe('pvdifyd serve', () => {
  let env: CliEnv;
  before(() => {
    env = createCliEnv({ prefix: 'pvdifyd-serve-' });
  });
  after(() => env.cleanup());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`starts, logs JSON lines, and stops cleanly on ${signal}`, async () => {
      const keyExisted = existsSync(env.ageKeyFile);
      const child = env.start('pvdifyd', ['serve'], { env: { PVDIFY_LOG: 'stdout' } });
      const out = watch(child);
      try {
        await waitFor('"pvdifyd started"', () => out.stdout.includes('"msg":"pvdifyd started"') || out.exit !== null, 20_000);
        // Still serving a moment later: a daemon that falls off the end of its event loop is not serving.
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal(out.exit, null, `pvdifyd serve exited by itself: ${JSON.stringify(out.exit)}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`);
        if (!keyExisted) {
          assert.ok(existsSync(env.ageKeyFile), 'serve did not create the age key');
          assert.equal(statSync(env.ageKeyFile).mode & 0o777, 0o600);
          assert.match(readFileSync(env.ageKeyFile, 'utf8'), /^AGE-SECRET-KEY-1[0-9A-Z]+$/m);
        }
        const sentAt = Date.now();
        child.kill(signal);
        await waitFor(`exit after ${signal}`, () => out.exit !== null, 10_000);
        // (Re-read: the assertion above narrowed `out.exit` to null for the type checker.)
        const exit = out.exit as Exit | null;
        assert.deepEqual([exit?.code, exit?.signal], [0, null], out.stderr);
        assert.ok((exit?.at ?? Infinity) - sentAt < 10_000);
      } finally {
        if (out.exit === null) child.kill('SIGKILL');
      }
      const lines = out.stdout.trimEnd().split('\n');
      const records = lines.map((l) => JSON.parse(l) as { level: number; msg: string; name: string; pid: number });
      for (const r of records) {
        assert.equal(r.name, 'pvdifyd');
        assert.equal(typeof r.level, 'number');
      }
      const msgs = records.map((r) => r.msg);
      assert.ok(msgs.includes('pvdifyd started'), msgs.join(' | '));
      assert.ok(msgs.some((m) => m.startsWith('pvdifyd stopped')), msgs.join(' | '));
      assert.ok(msgs.indexOf('pvdifyd started') < msgs.findIndex((m) => m.startsWith('pvdifyd stopped')));
      if (!keyExisted) assert.ok(msgs.some((m) => m.includes('created a new age identity')));
      assert.doesNotMatch(out.stderr, STACK_TRACE_RE);
    });
  }
});

describe('pvdifyd keygen', () => {
  let env: CliEnv;
  before(() => {
    env = createCliEnv({ prefix: 'pvdifyd-keygen-' });
  });
  after(() => env.cleanup());

  it('writes a 0600 key once and refuses to overwrite it', async () => {
    const first = await env.run('pvdifyd', ['keygen']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /public key: age1[0-9a-z]+/);
    assert.equal(statSync(env.ageKeyFile).mode & 0o777, 0o600);
    const key = readFileSync(env.ageKeyFile);
    const mtime = statSync(env.ageKeyFile).mtimeMs;

    const second = await env.run('pvdifyd', ['keygen']);
    assert.equal(second.code, 1);
    assert.equal(second.stdout, '');
    assert.match(second.stderr, /already exists; not overwriting/);
    assert.doesNotMatch(second.stderr, STACK_TRACE_RE);
    assert.deepEqual(readFileSync(env.ageKeyFile), key);
    assert.equal(statSync(env.ageKeyFile).mtimeMs, mtime);
  });
});

describe('pvdifyd sops', () => {
  const fixtures = join(fixturesDir(), 'sops');
  const example = join(fixtures, 'sops-3.10.2-example.age.yaml');
  let env: CliEnv;
  before(() => {
    env = createCliEnv({ prefix: 'pvdifyd-sops-', extraEnv: { PVDIFY_AGE_KEY_FILE: join(fixtures, 'test-identity.agekey') } });
  });
  after(() => env.cleanup());

  it('decrypts the file written by sops 3.10.2', async () => {
    const r = await env.run('pvdifyd', ['sops', 'decrypt', example]);
    assert.equal(r.code, 0, r.stderr);
    const doc = parseYaml(r.stdout) as Record<string, unknown>;
    assert.equal(doc.myapp1, 't00m4nys3cr3tzupdated');
    assert.deepEqual((doc.app2 as { db: unknown }).db, { user: 'eve', password: 'c4r1b0u' });
    assert.deepEqual(doc.an_array, ['secretuser1', 'secretuser2', 'somelongvalueAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'some other value']);
    assert.deepEqual(doc.somebooleans, [true, false]);
    assert.equal(doc.sops, undefined, 'the sops metadata is not part of the decrypted document');
    assert.match(r.stdout, /# private key for secret operations in app2/);
  });

  const tampers: [string, (text: string) => string, RegExp][] = [
    ['one character of a value', (t) => t.replace('data:zlGNmhTYX5xol4ZZ', 'data:zlGNmhTYX5xol4Za'), /myapp1/],
    ['one character of the MAC', (t) => t.replace('mac: ENC[AES256_GCM,data:GCWO', 'mac: ENC[AES256_GCM,data:GCWP'), /MAC/i],
    ['lastmodified', (t) => t.replace('2025-08-06T18:55:05Z', '2025-08-06T18:55:06Z'), /MAC/i],
  ];
  for (const [what, tamper, names] of tampers) {
    it(`refuses the file with ${what} changed: no plaintext output`, async () => {
      const original = readFileSync(example, 'utf8');
      const changed = tamper(original);
      assert.notEqual(changed, original, 'the tampering was not applied');
      const file = join(env.dir, 'tampered.yaml');
      writeFileSync(file, changed);
      const r = await env.run('pvdifyd', ['sops', 'decrypt', file]);
      assert.notEqual(r.code, 0);
      assert.equal(r.stdout, '', 'plaintext reached stdout');
      assert.match(r.stderr, names);
      for (const secret of ['t00m4nys3cr3t', 'c4r1b0u', 'secretuser1', 'BEGIN RSA']) assert.ok(!r.stderr.includes(secret), `stderr shows ${secret}`);
      assert.doesNotMatch(r.stderr, STACK_TRACE_RE);
    });
  }

  it('encrypts a plain YAML file into one that decrypts back to it', async () => {
    const plain = join(env.dir, 'plain.yaml');
    const doc = { DATABASE_URL: 'postgres://u:pw@db/x', nested: { list: ['a', 'b'], port: 5432, on: true }, note: 'multi\nline' };
    writeFileSync(plain, `DATABASE_URL: ${doc.DATABASE_URL}\nnested:\n  list: [a, b]\n  port: 5432\n  on: true\nnote: "multi\\nline"\n`);
    const enc = await env.run('pvdifyd', ['sops', 'encrypt', plain]);
    assert.equal(enc.code, 0, enc.stderr);
    assert.ok(!enc.stdout.includes('postgres://u:pw@db/x'), 'a value is in clear in the encrypted output');
    assert.match(enc.stdout, /^DATABASE_URL: ENC\[AES256_GCM,/m);
    assert.match(enc.stdout, /^\s+mac: ENC\[/m);
    const encrypted = join(env.dir, 'encrypted.yaml');
    writeFileSync(encrypted, enc.stdout);
    const dec = await env.run('pvdifyd', ['sops', 'decrypt', encrypted]);
    assert.equal(dec.code, 0, dec.stderr);
    assert.deepEqual(parseYaml(dec.stdout), doc);
  });
});

describe('pvdifyd audit verify', () => {
  let env: CliEnv;
  let file: string;
  let original: string;
  before(async () => {
    env = createCliEnv({ prefix: 'pvdifyd-audit-' });
    await env.keygen();
    for (const args of [['apps:create', 'shop'], ['config:set', 'shop', 'API_KEY=k-123456'], ['apps:creat', 'x'], ['apps']]) await env.run('pvdify', args);
    const files = readdirSync(join(env.stateDir, 'audit'));
    assert.equal(files.length, 1, files.join(' '));
    file = join(env.stateDir, 'audit', files[0] as string);
    original = readFileSync(file, 'utf8');
  });
  after(() => env.cleanup());

  const lines = () => original.trimEnd().split('\n');
  const month = () => file.split('/').at(-1) as string;
  async function verifyWith(text: string | null) {
    if (text !== null) writeFileSync(file, text);
    try {
      return await env.run('pvdifyd', ['audit', 'verify']);
    } finally {
      writeFileSync(file, original);
    }
  }

  it('is ok after some CLI commands', async () => {
    assert.equal(lines().length, 4);
    const r = await verifyWith(null);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /audit trail ok: 4 events/);
  });

  it('names an event edited by one character', async () => {
    const l = lines();
    assert.match(l[1] ?? '', /"command":"config:set shop API_KEY=\*\*\*"/);
    l[1] = (l[1] as string).replace('"command":"config:set shop', '"command":"config:set shoP');
    const r = await verifyWith(`${l.join('\n')}\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${month()} line 2: .*seq 2.*\\(edited\\)`));
  });

  it('names a deleted event', async () => {
    const l = lines();
    l.splice(1, 1);
    const r = await verifyWith(`${l.join('\n')}\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${month()} line 2: .*seq 2 is missing.*\\(deleted\\)`));
  });

  it('names swapped events', async () => {
    const l = lines();
    [l[1], l[2]] = [l[2] as string, l[1] as string];
    const r = await verifyWith(`${l.join('\n')}\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${month()} line 2: .*\\(reordered\\)`));
  });

  it('names events cut off the end', async () => {
    const r = await verifyWith(`${lines().slice(0, 3).join('\n')}\n`);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /seq 4 was recorded.*\(deleted\)/);
  });
});

describe('pvdifyd regenerate-units (systemd supervisor, caddy router)', () => {
  let env: CliEnv;
  let systemctl: SystemctlStub;
  let unitDir: string;
  const TUNNEL_UNIT = 'cloudflared-pvdify.service';
  const UNITS = [
    'pvdify-router.service',
    'pvdify-router-front.service',
    'pvdify-shop-web@blue-1.service',
    'pvdify-shop-web@blue-2.service',
    'pvdify-shop-worker@blue-1.service',
    TUNNEL_UNIT,
  ];
  const secret = 'postgres://u:regen-s3cret@db/shop';

  before(async () => {
    env = createCliEnv({ prefix: 'pvdifyd-regen-' });
    unitDir = join(env.dir, 'units');
    mkdirSync(unitDir);
    systemctl = await createSystemctlStub({ unitDir });
    // Stand-ins for podman and caddy: the units name them and systemd-analyze checks they exist.
    const binDir = join(env.dir, 'bin');
    mkdirSync(binDir);
    for (const tool of ['podman', 'caddy']) {
      writeFileSync(join(binDir, tool), '#!/bin/sh\necho "stand-in: must not run" >&2\nexit 1\n');
      chmodSync(join(binDir, tool), 0o755);
    }
    const cfDir = join(env.dir, 'cloudflared');
    mkdirSync(cfDir);
    const cloudflared = await installCloudflaredStub(cfDir);
    Object.assign(env.env, systemctl.env, cloudflared.env, {
      PVDIFY_SUPERVISOR: 'systemd',
      PVDIFY_ROUTER: 'caddy',
      PVDIFY_CADDY_ADMIN: '127.0.0.1:1',
      PVDIFY_UNIT_DIR: unitDir,
      PVDIFY_SYSTEMCTL: systemctl.path,
      PVDIFY_PODMAN: join(binDir, 'podman'),
      PVDIFY_CADDY: join(binDir, 'caddy'),
      PVDIFY_CLOUDFLARED: cloudflared.path,
    });
    await env.keygen();

    // A slot that is running (as a deploy would have left it), and one never deployed.
    const identities = await readIdentityFile(env.ageKeyFile);
    const vault = createAgeVault({ identities, recipients: [await identityToRecipient(identities[0] as string)] });
    const store = openStateStore({ root: env.stateDir, clock: systemClock, log: silentLogger });
    try {
      store.createApp({ name: 'shop', environment: 'production' });
      store.createApp({ name: 'shop-staging', environment: 'staging' });
      const configVersion = store.writeConfigVersion('shop', await vault.encrypt({ DATABASE_URL: secret }, new Date()), ['DATABASE_URL']);
      const release = store.createRelease({
        app: 'shop',
        kind: 'deploy',
        image: 'ghcr.io/org/shop:v1',
        config_version: configVersion,
        status: 'deploying',
        description: 'Deploy ghcr.io/org/shop:v1',
        source: 'cli',
        created_by: 'cli:alice',
        created_by_name: 'alice',
        approved_by: null,
        rollback_of: null,
      });
      store.updateReleaseStatus('shop', release.version, { status: 'succeeded', finished: true });
      const now = new Date().toISOString();
      store.updateApp('shop', (a) => ({
        ...a,
        status: 'running',
        image: 'ghcr.io/org/shop:v1',
        current_release: release.version,
        config_version: configVersion,
        processes: { web: { command: null, count: 2 }, worker: { command: 'bin/worker --queue default', count: 1 } },
        domains: ['shop.example.com'],
        domain_routes: { 'shop.example.com': { status: 'active', cf_record_id: null, created_at: now } },
        deployment: {
          colour: 'blue',
          release: release.version,
          instances: [
            { process: 'web', index: 1, port: instancePort(a.bind_port, 'blue', 1) },
            { process: 'web', index: 2, port: instancePort(a.bind_port, 'blue', 2) },
            { process: 'worker', index: 1, port: null },
          ],
        },
      }));
    } finally {
      store.close();
    }
  });
  after(async () => {
    env.cleanup();
    await systemctl.cleanup();
  });


  it('first run writes units, env files, router and tunnel config and reloads systemd once', async () => {
    const r = await env.run('pvdifyd', ['regenerate-units']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(readdirSync(unitDir).sort(), [...UNITS].sort());
    for (const name of ['blue.env', 'current.env']) {
      const path = join(env.stateDir, 'config', 'shop', name);
      assert.equal(statSync(path).mode & 0o777, 0o600, name);
      assert.match(readFileSync(path, 'utf8'), /DATABASE_URL=/);
      assert.ok(readFileSync(path, 'utf8').includes(secret), `${name} lacks the value`);
    }
    assert.ok(!existsSync(join(env.stateDir, 'config', 'shop-staging')), 'a never-deployed slot got env files');
    const caddy = readFileSync(join(env.stateDir, 'router', 'caddy.json'), 'utf8');
    JSON.parse(caddy);
    for (const port of [instancePort(3000, 'blue', 1), instancePort(3000, 'blue', 2)]) assert.ok(caddy.includes(`127.0.0.1:${port}`), `caddy.json lacks upstream ${port}`);
    // The front tier listens on the router port and proxies to the app's socket.
    const front = readFileSync(join(env.stateDir, 'router', 'front.json'), 'utf8');
    assert.ok(front.includes('"127.0.0.1:3000"') && front.includes(`unix/${join(env.stateDir, 'router', 'sock', 'shop.sock')}`), front);
    assert.match(readFileSync(join(env.stateDir, 'tunnels', 'pvdify-apps.yml'), 'utf8'), /hostname: shop\.example\.com\n\s+service: http:\/\/127\.0\.0\.1:3000\n/);
    const web1 = readFileSync(join(unitDir, 'pvdify-shop-web@blue-1.service'), 'utf8');
    assert.ok(web1.includes('ghcr.io/org/shop:v1'));
    assert.ok(web1.includes(join(env.stateDir, 'config', 'shop', 'blue.env')));
    assert.ok(!web1.includes(secret), 'a unit file holds a config value');

    assert.match(r.stdout, /^systemctl daemon-reload$/m);
    assert.match(r.stdout, /^(\d+) file\(s\) changed, \d+ unchanged$/m);
    const changed = Number(/^(\d+) file\(s\) changed/m.exec(r.stdout)?.[1]);
    // 5 units (3 instances, 2 router tiers) + the tunnel unit (cloudflared is installed) + 2 env
    // files + caddy.json + front.json + the tunnel config.
    assert.equal(changed, 11, r.stdout);
    // The tunnel's hostnames changed (none → shop.example.com): cloudflared is restarted, nothing else.
    assert.deepEqual(await systemctl.argvs(), [['daemon-reload'], ['restart', '--', TUNNEL_UNIT]]);
  });

  it('second run changes nothing and does not reload systemd', async () => {
    await systemctl.clearCalls();
    const before = Object.fromEntries(UNITS.map((u) => [u, readFileSync(join(unitDir, u), 'utf8')]));
    const r = await env.run('pvdifyd', ['regenerate-units']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^0 file\(s\) changed, \d+ unchanged$/m);
    assert.doesNotMatch(r.stdout, /daemon-reload|created|updated/);
    assert.deepEqual(await systemctl.argvs(), []);
    assert.deepEqual(Object.fromEntries(UNITS.map((u) => [u, readFileSync(join(unitDir, u), 'utf8')])), before);
  });

  it('puts back a deleted unit, and only that one', async () => {
    await systemctl.clearCalls();
    rmSync(join(unitDir, 'pvdify-shop-web@blue-2.service'));
    const r = await env.run('pvdifyd', ['regenerate-units']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1 file\(s\) changed/m);
    assert.match(r.stdout, /created .*pvdify-shop-web@blue-2\.service/);
    assert.deepEqual(await systemctl.argvs(), [['daemon-reload']]);
  });

  it('generates units that pass systemd-analyze verify', async () => {
    for (const u of UNITS) assert.ok(existsSync(join(unitDir, u)), `${u} was not generated`);
    const result = await verifyUnitFiles(UNITS.map((u) => join(unitDir, u)));
    assert.deepEqual(result, { ok: true, exitCode: 0, diagnostics: [] });
  });
});

describe('pvdifyd usage', () => {
  let env: CliEnv;
  before(() => {
    env = createCliEnv({ prefix: 'pvdifyd-usage-' });
  });
  after(() => env.cleanup());

  it('help exits 0 with the command list', async () => {
    const r = await env.run('pvdifyd', ['help']);
    assert.equal(r.code, 0, r.stderr);
    for (const c of ['serve', 'rebuild-index', 'regenerate-units', 'audit verify', 'keygen', 'sops decrypt']) assert.ok(r.stdout.includes(c), c);
  });

  it('an unknown command exits 1 with the usage', async () => {
    const r = await env.run('pvdifyd', ['bogus']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^pvdifyd: unknown command "bogus"\n\nusage: pvdifyd <command>/);
    assert.ok(!existsSync(env.stateDir), 'a usage error created the state dir');
  });
});
