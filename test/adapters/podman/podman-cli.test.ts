/**
 * PodmanCli without Podman: output parsers on what podman 4.3 prints, and the exact argv it
 * builds, checked through a stub binary that records its arguments (and any auth file) to disk.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  PodmanCli,
  isLoopbackRegistry,
  parseHumanBytes,
  parseLogLine,
  registryHost,
  summarizePodmanError,
  withAuthFile,
} from '../../../src/adapters/podman/podman-cli.ts';
import { ExternalToolError } from '../../../src/core/errors.ts';

describe('podman output parsing', () => {
  it('boils stderr down to the innermost useful reason', () => {
    assert.equal(
      summarizePodmanError(
        'Error: initializing source docker://127.0.0.1:5000/x:1: reading manifest 1 in 127.0.0.1:5000/x: manifest unknown: manifest unknown\n',
      ),
      'manifest unknown',
    );
    assert.equal(
      summarizePodmanError(
        'time="2026-01-01T00:00:00Z" level=warning msg="Failed, retrying in 1s ... (1/3)"\nError: initializing source docker://127.0.0.1:41/x:1: reading manifest 1 in 127.0.0.1:41/x: unauthorized: authentication required\n',
      ),
      'unauthorized: authentication required',
    );
    assert.equal(
      summarizePodmanError('Error: no container with name or ID "nope" found: no such container'),
      'no such container',
    );
    assert.equal(summarizePodmanError(''), 'failed');
  });

  it('parses the sizes podman stats prints', () => {
    assert.equal(parseHumanBytes('450.6kB'), 450_600);
    assert.equal(parseHumanBytes(' 67.11MB'), 67_110_000);
    assert.equal(parseHumanBytes('0B '), 0);
    assert.equal(parseHumanBytes('1.5GiB'), 1.5 * 1024 ** 3);
    assert.equal(parseHumanBytes('--'), null);
    assert.equal(parseHumanBytes(undefined), null);
  });

  it('splits timestamped log lines, keeping nanoseconds for ordering', () => {
    const a = parseLogLine('2026-12-04T16:27:54.957770790Z [::ffff:10.88.0.1]:59382: response:200');
    assert.deepEqual(a, {
      time: '2026-12-04T16:27:54.957Z',
      sortKey: '2026-12-04T16:27:54.957770790',
      message: '[::ffff:10.88.0.1]:59382: response:200',
    });
    const b = parseLogLine('2026-12-04T17:27:54.95777079+01:00 later');
    assert.equal(b.sortKey, '2026-12-04T16:27:54.957770790');
    assert.ok(parseLogLine('2026-12-04T16:27:54.9577708Z x').sortKey > a.sortKey);
    assert.deepEqual(parseLogLine('no timestamp here'), { time: null, sortKey: '', message: 'no timestamp here' });
  });

  it('finds the registry of a reference and whether it is loopback', () => {
    assert.equal(registryHost('ghcr.io/org/app:v1'), 'ghcr.io');
    assert.equal(registryHost('127.0.0.1:5000/app:1'), '127.0.0.1:5000');
    assert.equal(registryHost('library/nginx'), 'docker.io');
    assert.equal(registryHost('nginx'), 'docker.io');
    assert.equal(isLoopbackRegistry('127.0.0.1:5000/app:1'), true);
    assert.equal(isLoopbackRegistry('localhost:5000/app:1'), true);
    assert.equal(isLoopbackRegistry('127.0.0.1.example.com/app:1'), false);
    assert.equal(isLoopbackRegistry('ghcr.io/org/app:1'), false);
    assert.equal(isLoopbackRegistry('localhost.evil.io:5000/app'), false);
  });
});

describe('PodmanCli argv (stub podman)', () => {
  let dir = '';
  let stub = '';
  const record = () => join(dir, 'argv');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pvdify-podman-stub-'));
    stub = join(dir, 'podman');
    // Records argv one per line; copies an --authfile (with its mode) before podman would read it.
    await writeFile(
      stub,
      [
        '#!/bin/sh',
        ': > "$STUB_DIR/argv"',
        'prev=""',
        'for a in "$@"; do',
        '  printf "%s\\n" "$a" >> "$STUB_DIR/argv"',
        '  if [ "$prev" = "--authfile" ]; then cp "$a" "$STUB_DIR/auth.json"; stat -c %a "$a" > "$STUB_DIR/auth.mode"; fi',
        '  prev="$a"',
        'done',
        'printf "%s" "$STUB_STDOUT"',
        'printf "%s" "$STUB_STDERR" >&2',
        'exit "${STUB_EXIT:-0}"',
        '',
      ].join('\n'),
    );
    await chmod(stub, 0o755);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cli = (env: Record<string, string> = {}) =>
    new PodmanCli({ bin: stub, tmpDir: dir, env: { STUB_DIR: dir, STUB_EXIT: '0', STUB_STDOUT: '', STUB_STDERR: '', ...env } });
  const argv = async () => (await readFile(record(), 'utf8')).trimEnd().split('\n');

  it('pulls from a loopback registry without TLS, with credentials only in a 0600 auth file that is removed', async () => {
    await cli().pull('127.0.0.1:5000/app:1', { auth: { username: 'bot', password: 'hunter2-secret' } });
    const args = await argv();
    assert.deepEqual(args.filter((a) => a !== args[args.indexOf('--authfile') + 1]), [
      'pull',
      '--quiet',
      '--tls-verify=false',
      '--authfile',
      '127.0.0.1:5000/app:1',
    ]);
    assert.ok(!args.some((a) => a.includes('hunter2')), 'password not in argv');
    assert.equal((await readFile(join(dir, 'auth.mode'), 'utf8')).trim(), '600');
    const auth = JSON.parse(await readFile(join(dir, 'auth.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(auth.auths['127.0.0.1:5000']?.auth ?? '', 'base64').toString(), 'bot:hunter2-secret');
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('pvdify-auth-')), [], 'auth dir removed');
  });

  it('keeps TLS verification for other registries', async () => {
    await cli().pull('ghcr.io/org/app:v1');
    assert.deepEqual(await argv(), ['pull', '--quiet', '--tls-verify=true', 'ghcr.io/org/app:v1']);
  });

  it('turns a failed pull into a short ExternalToolError and still removes the auth file', async () => {
    const failing = cli({
      STUB_EXIT: '125',
      STUB_STDERR: 'Error: initializing source docker://127.0.0.1:5000/x:1: reading manifest 1 in 127.0.0.1:5000/x: manifest unknown: manifest unknown\n',
    });
    await assert.rejects(failing.pull('127.0.0.1:5000/x:1', { auth: { username: 'u', password: 'p' } }), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.equal(e.tool, 'podman');
      assert.equal(e.message, 'could not pull 127.0.0.1:5000/x:1: manifest unknown');
      return true;
    });
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('pvdify-auth-')), []);
  });

  it('builds podman run with the env file, loopback publishing and the command after the image', async () => {
    const id = await cli({ STUB_STDOUT: 'abc123\n' }).run({
      name: 'pvdify-shop-web-blue-1',
      image: 'ghcr.io/acme/shop:1',
      labels: { 'pvdify.app': 'shop' },
      publish: [{ hostIp: '127.0.0.1', hostPort: 4001, containerPort: 3000 }],
      envFile: '/var/lib/pvdify/config/shop/current.env',
      publicEnv: { PORT: '3000' },
      memory: '512M',
      cpus: 0.5,
      restart: 'always',
      replace: true,
      logMaxSize: '10mb',
      command: ['--version', 'x y'],
    });
    assert.equal(id, 'abc123');
    assert.deepEqual(await argv(), [
      'run', '--detach', '--name', 'pvdify-shop-web-blue-1', '--replace',
      '--label', 'pvdify.app=shop',
      '--publish', '127.0.0.1:4001:3000',
      '--env-file', '/var/lib/pvdify/config/shop/current.env',
      '--env', 'PORT=3000',
      '--memory', '512M', '--cpus', '0.5', '--restart=always',
      '--log-opt', 'max-size=10mb',
      'ghcr.io/acme/shop:1', '--version', 'x y',
    ]);
  });

  it('anchors name filters and parses ps JSON as podman 4.3 prints it', async () => {
    const row = {
      Id: 'f'.repeat(64),
      Names: ['pvdify-shop-web-blue-1'],
      Image: 'ghcr.io/acme/shop:1',
      ImageID: 'a'.repeat(64),
      Labels: { 'pvdify.app': 'shop' },
      State: 'running',
      ExitCode: 0,
      Exited: false,
      ExitedAt: -62135596800,
      StartedAt: 1796401673,
      Created: 1796401673,
      Ports: [{ host_ip: '127.0.0.1', container_port: 3000, host_port: 4001, range: 1, protocol: 'tcp' }],
    };
    const rows = await cli({ STUB_STDOUT: JSON.stringify([row, { nonsense: true }]) }).ps({
      labels: ['pvdify.app=shop'],
      names: ['pvdify-shop-web-blue-1'],
    });
    assert.deepEqual(await argv(), [
      'ps', '--all', '--format', 'json',
      '--filter', 'label=pvdify.app=shop',
      '--filter', 'name=^pvdify-shop-web-blue-1$',
    ]);
    assert.equal(rows.length, 1, 'unreadable rows are skipped');
    assert.deepEqual(rows[0]?.ports, [{ hostIp: '127.0.0.1', hostPort: 4001, containerPort: 3000 }]);
    assert.equal(rows[0]?.exitedAt, null);
    assert.equal(rows[0]?.startedAt?.toISOString(), new Date(1796401673 * 1000).toISOString());
  });

  it('reads stats JSON with human-readable sizes', async () => {
    const out = JSON.stringify([
      { id: 'f'.repeat(12), name: 'pvdify-shop-web-blue-1', cpu_percent: '0.72%', mem_usage: '507.9kB / 67.11MB' },
    ]);
    const stats = await cli({ STUB_STDOUT: out }).stats(['pvdify-shop-web-blue-1']);
    assert.deepEqual(stats, [{ name: 'pvdify-shop-web-blue-1', cpuPercent: 0.72, memoryBytes: 507_900, memoryLimitBytes: 67_110_000 }]);
    assert.deepEqual(await argv(), ['stats', '--no-stream', '--format', 'json', 'pvdify-shop-web-blue-1']);
  });

  it('reports a missing binary as an ExternalToolError', async () => {
    await assert.rejects(new PodmanCli({ bin: join(dir, 'no-such-podman') }).imageExists('x'), /no-such-podman not found/);
  });
});

describe('withAuthFile', () => {
  it('removes the file even when the callback throws', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pvdify-authfile-'));
    try {
      let seen = '';
      await assert.rejects(
        withAuthFile('ghcr.io', { username: 'a', password: 'b' }, dir, async (file) => {
          seen = file;
          assert.equal((await stat(file)).mode & 0o777, 0o600);
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.ok(seen !== '');
      assert.deepEqual(await readdir(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
