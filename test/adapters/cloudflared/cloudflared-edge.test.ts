/**
 * The cloudflared edge against real files and a recording stub of the cloudflared binary.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createCloudflaredEdge, parseRecordId, tunnelConfigPath } from '../../../src/adapters/cloudflared/cloudflared-edge.ts';
import { validateIngressYaml } from '../../../src/adapters/cloudflared/ingress.ts';
import type { Logger } from '../../../src/core/ports/clock.ts';
import { installCloudflaredStub, type CloudflaredStub } from '../../support/cloudflared-stub/install.ts';
import { edgeContract } from './contract.ts';

const TUNNEL = '8f1c6f0e-2b0a-4f43-9d0e-6c1f1a2b3c4d';

/** A logger that keeps what it was told. */
function recordingLogger(lines: { level: string; obj: unknown; msg?: string }[]): Logger {
  const at = (level: string) => (obj: object | string, msg?: string) => lines.push({ level, obj, msg });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

interface Setup {
  dir: string;
  stub: CloudflaredStub;
  restarts: number;
  failRestart: string | null;
  logs: { level: string; obj: unknown; msg?: string }[];
  edge: ReturnType<typeof createCloudflaredEdge>;
}

async function setup(stubEnv: Record<string, string> = {}, cloudflaredPath?: string): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'pvd-cf-'));
  const stub = await installCloudflaredStub(dir, stubEnv);
  const s: Setup = { dir, stub, restarts: 0, failRestart: null, logs: [], edge: undefined as never };
  s.edge = createCloudflaredEdge({
    stateDir: join(dir, 'state'),
    cloudflaredPath: cloudflaredPath ?? stub.path,
    tunnel: TUNNEL,
    credentialsFile: '/etc/cloudflared/pvdify.json',
    log: recordingLogger(s.logs),
    env: stub.env,
    restartTunnel: async () => {
      if (s.failRestart) throw new Error(s.failRestart);
      s.restarts += 1;
    },
  });
  return s;
}

edgeContract('cloudflared with the recording stub', async () => {
  const s = await setup();
  return {
    edge: s.edge,
    restarts: () => s.restarts,
    dnsRouted: async () => (await s.stub.calls()).filter((c) => c.argv[1] === 'route').map((c) => c.argv.at(-1) as string),
    close: () => rm(s.dir, { recursive: true, force: true }),
  };
});

describe('cloudflared edge', () => {
  let s: Setup;
  beforeEach(async () => {
    s = await setup({ CLOUDFLARED_STUB_REJECT: 'rejected.example.com', CLOUDFLARED_STUB_DNS_FAIL: 'taken.example.com' });
  });
  afterEach(() => rm(s.dir, { recursive: true, force: true }));
  const file = (): string => tunnelConfigPath(join(s.dir, 'state'));

  it('writes tunnels/pvdify-apps.yml that passes validation, after cloudflared checked the temp file', async () => {
    await s.edge.apply([{ hostname: 'app.example.com', bindPort: 3000 }]);
    const text = await readFile(file(), 'utf8');
    assert.ok(validateIngressYaml(text).valid);
    assert.match(text, new RegExp(`tunnel: ${TUNNEL}\ncredentials-file: /etc/cloudflared/pvdify.json\ningress:\n  - hostname: app.example.com\n    service: http://127.0.0.1:3000\n  - service: http_status:404\n$`));
    const calls = await s.stub.calls();
    assert.equal(calls.length, 1);
    const argv = calls[0]?.argv ?? [];
    assert.deepEqual([argv[0], argv[1], argv[3], argv[4]], ['tunnel', '--config', 'ingress', 'validate']);
    assert.notEqual(argv[2], file(), 'validated before it replaced the file');
    assert.equal(calls[0]?.config, text, 'cloudflared saw exactly the text that was then installed');
    assert.deepEqual((await readdir(join(s.dir, 'state', 'tunnels'))).sort(), ['pvdify-apps.yml']);
  });

  it('keeps the old file and does not restart when cloudflared refuses the config', async () => {
    await s.edge.apply([{ hostname: 'app.example.com', bindPort: 3000 }]);
    const before = await readFile(file(), 'utf8');
    await assert.rejects(s.edge.apply([{ hostname: 'rejected.example.com', bindPort: 3001 }]), (e: Error & { code?: string; tool?: string }) => {
      assert.equal(e.code, 'external_tool');
      assert.equal(e.tool, 'cloudflared');
      assert.match(e.message, /cloudflared refused the tunnel config: Validation failed: Rule #1 is refused/);
      return true;
    });
    assert.equal(await readFile(file(), 'utf8'), before);
    assert.equal(s.restarts, 1);
    assert.deepEqual((await readdir(join(s.dir, 'state', 'tunnels'))).sort(), ['pvdify-apps.yml'], 'no temp file left');
  });

  it('skips the cloudflared check when the binary is absent, with a debug log', async () => {
    const absent = await setup({}, join(tmpdir(), 'pvd-no-such-dir', 'cloudflared'));
    try {
      assert.deepEqual(await absent.edge.apply([{ hostname: 'app.example.com', bindPort: 3000 }]), { changed: true, restarted: true });
      assert.ok(absent.logs.some((l) => l.level === 'debug' && /skipping `ingress validate`/.test(l.msg ?? '')));
      assert.deepEqual(await absent.stub.calls(), []);
      await assert.rejects(absent.edge.routeDns('app.example.com'), { code: 'external_tool', message: /not installed/ });
    } finally {
      await rm(absent.dir, { recursive: true, force: true });
    }
  });

  it('puts the old file back when the restart fails, so the next apply retries it', async () => {
    await s.edge.apply([{ hostname: 'app.example.com', bindPort: 3000 }]);
    const before = await readFile(file(), 'utf8');
    s.failRestart = 'Job for cloudflared-pvdify.service failed';
    const next = [{ hostname: 'app.example.com', bindPort: 3000 }, { hostname: 'new.example.com', bindPort: 3001 }];
    await assert.rejects(s.edge.apply(next), { code: 'external_tool', message: /restarting the tunnel failed: Job for cloudflared-pvdify.service failed/ });
    assert.equal(await readFile(file(), 'utf8'), before);
    s.failRestart = null;
    assert.deepEqual(await s.edge.apply(next), { changed: true, restarted: true });
    assert.equal(s.restarts, 2);
  });

  it('removes a first file again when its restart fails', async () => {
    s.failRestart = 'no such unit';
    await assert.rejects(s.edge.apply([{ hostname: 'app.example.com', bindPort: 3000 }]), { code: 'external_tool' });
    await assert.rejects(readFile(file()), { code: 'ENOENT' });
  });

  it('rewrites a hand-edited file without restarting when routing is the same', async () => {
    await s.edge.apply([{ hostname: 'app.example.com', bindPort: 3000 }]);
    await writeFile(file(), `# someone was here\n${await readFile(file(), 'utf8')}`);
    assert.deepEqual(await s.edge.apply([{ hostname: 'app.example.com', bindPort: 3000 }]), { changed: true, restarted: false });
    assert.equal(s.restarts, 1);
  });

  it('runs `tunnel route dns <tunnel> <hostname>` and reports its failure', async () => {
    assert.deepEqual(await s.edge.routeDns('app.example.com'), { recordId: null });
    await assert.rejects(s.edge.routeDns('taken.example.com'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'external_tool');
      assert.match(e.message, /could not route taken\.example\.com: Failed to add route: code: 1003/);
      assert.doesNotMatch(e.message, /^\d{4}-/);
      return true;
    });
    const dns = (await s.stub.calls()).map((c) => c.argv);
    assert.deepEqual(dns, [
      ['tunnel', 'route', 'dns', TUNNEL, 'app.example.com'],
      ['tunnel', 'route', 'dns', TUNNEL, 'taken.example.com'],
    ]);
  });

  it('returns the record id when cloudflared prints one', async () => {
    const withId = await setup({ CLOUDFLARED_STUB_RECORD_ID: '372e67954025e0ba6aaa6d586b9e0b59' });
    try {
      assert.deepEqual(await withId.edge.routeDns('app.example.com'), { recordId: '372e67954025e0ba6aaa6d586b9e0b59' });
    } finally {
      await rm(withId.dir, { recursive: true, force: true });
    }
  });

  it('parses record ids only where they are labelled', () => {
    assert.equal(parseRecordId('INF Added CNAME a.example.com which will route to this tunnel tunnelID=8f1c6f0e'), null);
    assert.equal(parseRecordId('record_id: "abc123def"'), 'abc123def');
    assert.equal(parseRecordId('recordID=0123456789abcdef'), '0123456789abcdef');
  });
});
