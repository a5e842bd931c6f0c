/**
 * pvdifyd's control socket through the real executables: a running `pvdifyd serve` answers
 * `pvdify` commands over `<state>/pvdifyd.sock` (as `cli:<user>`, audited, secrets kept out of its
 * log), refuses what is not a request, is owner-only, and is gone when the daemon stops; with
 * no daemon (or PVDIFY_DIRECT=1) the CLI runs commands itself.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_STATE_DIR, controlSocketPath as clientSocketPath, runThroughDaemon } from '../../bin/control-client.js';
import { controlSocketPath } from '../../src/cli/control-socket.ts';
import { readEnvOptions } from '../../src/main.ts';
import { createCliEnv, STACK_TRACE_RE, type CliEnv, waitFor } from '../support/cli-env.ts';

/** Sends raw bytes to the socket and returns everything the daemon answers before closing. */
function rawExchange(path: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    socket.write(payload);
  });
}

function collect() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => (out.stdout += t), stderr: (t: string) => (out.stderr += t) } };
}

describe('control socket: paths', () => {
  it('the CLI looks for the socket where the daemon puts it, with the same default state dir', () => {
    assert.equal(DEFAULT_STATE_DIR, readEnvOptions({}).stateDir);
    assert.equal(clientSocketPath({}), controlSocketPath(readEnvOptions({}).stateDir));
    assert.equal(clientSocketPath({ PVDIFY_STATE_DIR: '/srv/p' }), controlSocketPath('/srv/p'));
  });
});

describe('control socket (pvdifyd serve)', () => {
  let env: CliEnv;
  let daemon: ChildProcess;
  const daemonOut = { stdout: '', stderr: '' };
  let socketPath: string;
  const secret = 'postgres://u:ctl-s3cret-value@db/shop';
  const user = userInfo().username;

  before(async () => {
    env = createCliEnv({ prefix: 'pvdify-ctl-' });
    await env.keygen();
    socketPath = controlSocketPath(env.stateDir);
    daemon = env.start('pvdifyd', ['serve'], { env: { PVDIFY_LOG: 'stdout' } });
    daemon.stdout?.setEncoding('utf8').on('data', (c: string) => (daemonOut.stdout += c));
    daemon.stderr?.setEncoding('utf8').on('data', (c: string) => (daemonOut.stderr += c));
    await waitFor('the control socket', () => daemonOut.stdout.includes('"msg":"control socket listening"') || daemon.exitCode !== null, 20_000);
    assert.equal(daemon.exitCode, null, daemonOut.stderr);
  });
  after(async () => {
    if (daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await waitFor('pvdifyd to stop', () => daemon.exitCode !== null, 10_000).catch(() => daemon.kill('SIGKILL'));
    }
    env.cleanup();
  });

  it('is a socket only its owner may use', () => {
    const st = statSync(socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('runs a command in the daemon as cli:<user>, through the pvdify executable', async () => {
    const r = await env.run('pvdify', ['apps:create', 'shop']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /shop/);
    await waitFor('the daemon log line', () => daemonOut.stdout.includes('"msg":"control command"'), 5_000);
    const logged = daemonOut.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'control command');
    assert.deepEqual(
      logged.map((l) => [l.command, l.actor, l.exit]),
      [['apps:create', `cli:${user}`, 0]],
    );
    // The audit trail names the terminal user, as for a command run in-process.
    const audit = await env.run('pvdify', ['audit', '--app', 'shop', '--json']);
    assert.equal(audit.code, 0, audit.stderr);
    assert.ok(audit.stdout.includes(`cli:${user}`), audit.stdout);
  });

  it('keeps config values out of the daemon log and the reply', async () => {
    const r = await env.run('pvdify', ['config:set', 'shop', `DATABASE_URL=${secret}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret));
    assert.ok(!daemonOut.stdout.includes(secret), 'a config value reached the daemon log');
    const get = await env.run('pvdify', ['config:get', 'shop', 'DATABASE_URL']);
    assert.equal(get.code, 0, get.stderr);
  });

  it('streams a deploy\'s progress lines as they happen and ends with its exit code', async () => {
    // PVDIFY_PODMAN points nowhere (cli-env): the release fails at its pull step, in the daemon.
    const { out, io } = collect();
    const progressAt: number[] = [];
    const started = performance.now();
    const code = await runThroughDaemon(['deploy', 'shop', 'registry.example/shop:v1'], { PVDIFY_STATE_DIR: env.stateDir }, {
      stdout: io.stdout,
      stderr: (t: string) => {
        progressAt.push(performance.now() - started);
        io.stderr(t);
      },
    });
    assert.equal(code, 1, out.stderr);
    assert.match(out.stderr, /^\s+ok\s+snapshot/m);
    assert.match(out.stderr, /pull/);
    assert.match(out.stderr, /^error: /m);
    assert.ok(progressAt.length >= 3, `progress came in ${progressAt.length} writes`);
    const releases = await env.run('pvdify', ['releases', 'shop']);
    assert.match(releases.stdout, /failed/);
  });

  it('passes refusals through with their exit code, without a stack trace', async () => {
    const { out, io } = collect();
    const code = await runThroughDaemon(['deploy', 'shop', '-rf'], { PVDIFY_STATE_DIR: env.stateDir }, io);
    assert.equal(code, 1);
    assert.match(out.stderr, /^error: /m);
    assert.doesNotMatch(out.stderr, STACK_TRACE_RE);
    const unknown = collect();
    assert.equal(await runThroughDaemon(['deploi', 'shop'], { PVDIFY_STATE_DIR: env.stateDir }, unknown.io), 1);
    assert.match(unknown.out.stderr, /did you mean/i);
  });

  it('refuses what is not a request and keeps serving', async () => {
    assert.match(await rawExchange(socketPath, 'hello\n'), /"exit":1.*not a pvdify control request/);
    assert.match(await rawExchange(socketPath, `${JSON.stringify({ v: 99, argv: ['help'], user })}\n`), /not a pvdify control request/);
    assert.match(await rawExchange(socketPath, `${JSON.stringify({ v: 1, argv: ['help'], user: 'x; rm -rf /' })}\n`), /not a pvdify control request/);
    assert.match(await rawExchange(socketPath, 'x'.repeat(300 * 1024)), /request too large/);
    const { io } = collect();
    assert.equal(await runThroughDaemon(['apps'], { PVDIFY_STATE_DIR: env.stateDir }, io), 0);
  });

  it('PVDIFY_DIRECT=1 runs the command in the CLI process instead', async () => {
    const r = await env.run('pvdify', ['apps:info', 'shop'], { env: { PVDIFY_DIRECT: '1' } });
    assert.equal(r.code, 0, r.stderr);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(!daemonOut.stdout.includes('"command":"apps:info"'), 'the daemon ran it');
    assert.equal(await runThroughDaemon(['apps'], { PVDIFY_STATE_DIR: env.stateDir, PVDIFY_DIRECT: '1' }), null);
  });

  it('removes the socket when the daemon stops', async () => {
    daemon.kill('SIGTERM');
    await waitFor('pvdifyd to stop', () => daemon.exitCode !== null, 10_000);
    assert.equal(daemon.exitCode, 0, daemonOut.stderr);
    assert.equal(existsSync(socketPath), false);
    // No daemon: the client steps aside and the CLI runs the command itself.
    assert.equal(await runThroughDaemon(['apps'], { PVDIFY_STATE_DIR: env.stateDir }), null);
    const r = await env.run('pvdify', ['apps:info', 'shop']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('steps aside for a socket file nothing listens on (a daemon that was killed)', async () => {
    const stale = join(env.dir, 'stale-state');
    mkdirSync(stale);
    writeFileSync(join(stale, 'pvdifyd.sock'), '');
    assert.equal(await runThroughDaemon(['apps'], { PVDIFY_STATE_DIR: stale }), null);
    assert.equal(await runThroughDaemon(['apps'], { PVDIFY_STATE_DIR: join(env.dir, 'nowhere') }), null);
  });
});
