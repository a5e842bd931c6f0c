import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cliActor, runCli } from '../../src/cli/pvdify.ts';
import type { CliRuntime } from '../../src/cli/pvdify.ts';
import { StateUnwritableError } from '../../src/core/errors.ts';
import { createFakeServices, createRecordingLogger, terminalActor } from '../support/fake-services.ts';
import type { FakeServices } from '../support/fake-services.ts';

function capture() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
}

function fakeRuntime(fake: FakeServices = createFakeServices()) {
  const logger = createRecordingLogger();
  const state = { opened: 0, closed: 0 };
  const runtime: CliRuntime = {
    services: fake,
    recordAudit: (e) => fake.recordAudit(e),
    log: logger.log,
    close: async () => {
      state.closed += 1;
    },
  };
  return {
    state,
    logger,
    open: async () => {
      state.opened += 1;
      return runtime;
    },
  };
}

const failingOpen = () => Promise.reject(new Error('EACCES: permission denied, open /var/lib/pvdify/pvdifyd.db'));

describe('runCli', () => {
  it('answers help without a usable state dir', async () => {
    const { out, io } = capture();
    const code = await runCli(['help'], { io, openRuntime: failingOpen, actor: terminalActor });
    assert.equal(code, 0);
    assert.match(out.stdout, /^=== pvdify COMMAND/);
    assert.equal(out.stderr, '');
  });

  it('answers a usage error without a usable state dir', async () => {
    const { out, io } = capture();
    const code = await runCli(['apps:creat', 'x'], { io, openRuntime: failingOpen, actor: terminalActor });
    assert.equal(code, 1);
    assert.equal(out.stdout, '');
    assert.match(out.stderr, /^error: unknown command `apps:creat`\. Did you mean `apps:create`\?\nusage: pvdify apps:create/);
  });

  it('still records the audit event and log lines of an offline answer when the runtime opens', async () => {
    const fake = createFakeServices();
    const rt = fakeRuntime(fake);
    const { io } = capture();
    assert.equal(await runCli(['config:set', 'myapp', 'lower=hunter2'], { io, openRuntime: rt.open, actor: terminalActor }), 1);
    assert.deepEqual(
      fake.events.map((e) => [e.outcome, e.command, e.actor_id]),
      [['refused', 'config:set myapp lower=***', 'cli:alice']],
    );
    assert.match(rt.logger.text(), /command/);
    assert.deepEqual(fake.calls, []);
    assert.deepEqual(rt.state, { opened: 1, closed: 1 });
  });

  it('opens the runtime for a real command, prints the reply and closes it', async () => {
    const fake = createFakeServices();
    fake.seedApp('myapp');
    const rt = fakeRuntime(fake);
    const { out, io } = capture();
    const code = await runCli(['apps', '--json'], { io, openRuntime: rt.open, actor: terminalActor });
    assert.equal(code, 0);
    assert.deepEqual((JSON.parse(out.stdout) as { apps: Array<{ name: string }> }).apps.map((a) => a.name), ['myapp']);
    assert.deepEqual(rt.state, { opened: 1, closed: 1 });
    assert.equal(fake.events.length, 1);
  });

  it('reports a known error from opening the runtime with its hint, exit 1', async () => {
    const { out, io } = capture();
    const open = () => Promise.reject(new StateUnwritableError('/var/lib/pvdify is read-only'));
    assert.equal(await runCli(['apps'], { io, openRuntime: open, actor: terminalActor }), 1);
    assert.equal(out.stderr, 'error: /var/lib/pvdify is read-only\nhint: check ownership and permissions of PVDIFY_STATE_DIR\n');
  });

  it('reports any other failure to open the runtime, exit 2', async () => {
    const { out, io } = capture();
    assert.equal(await runCli(['apps'], { io, openRuntime: failingOpen, actor: terminalActor }), 2);
    assert.match(out.stderr, /^error: cannot open the pvdify state: EACCES/);
  });

  it('keeps the reply when closing the runtime fails', async () => {
    const fake = createFakeServices();
    const rt = fakeRuntime(fake);
    const open = async (): Promise<CliRuntime> => ({
      ...(await rt.open()),
      close: () => Promise.reject(new Error('close failed')),
    });
    const { out, io } = capture();
    assert.equal(await runCli(['apps'], { io, openRuntime: open, actor: terminalActor }), 0);
    assert.match(out.stdout, /No apps yet/);
    assert.match(rt.logger.text(), /close failed/);
  });
});

describe('cliActor', () => {
  it('is cli:<unix user>, on a terminal', () => {
    const user = userInfo().username;
    assert.deepEqual(cliActor(), { id: `cli:${user}`, name: user, source: 'cli', channel: null, terminal: true });
  });
});

describe('bin/pvdify.js', () => {
  const bin = fileURLToPath(new URL('../../bin/pvdify.js', import.meta.url));
  const run = async (args: string[]) => {
    const env = { ...process.env, PVDIFY_STATE_DIR: '/dev/null/not-a-dir', PVDIFY_LOG: 'silent' };
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };

  it('prints help and exits 0 with an unusable state dir', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /apps:create/);
  });

  it('exits 1 on a usage error with an unusable state dir', async () => {
    const r = await run(['releases', 'myapp', '--limt', '5']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'error: unknown flag `--limt` for releases. Did you mean `--limit`?\nusage: pvdify releases NAME [--limit N]\n');
  });
});
