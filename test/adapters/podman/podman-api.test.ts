/**
 * PodmanApi and the podman service: the env-file parser and size parser on plain data, then a
 * real `podman system service` on a temp socket. The parity test runs the same options through
 * `PodmanCli.run` and `PodmanApi.run` and compares what `podman container inspect` says.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { PodmanApi, PodmanApiUnavailable, parseEnvFile, parseGoSize } from '../../../src/adapters/podman/podman-api.ts';
import { PodmanCli, type PodmanRunOptions } from '../../../src/adapters/podman/podman-cli.ts';
import { startPodmanService, type PodmanService } from '../../../src/adapters/podman/podman-service.ts';
import { ExternalToolError, InvalidInputError } from '../../../src/core/errors.ts';
import type { Logger } from '../../../src/core/ports/clock.ts';
import { BUSYBOX, buildTestImage } from '../../support/images/build-test-image.ts';
import { removeAppContainers } from '../../support/podman/cleanup.ts';
import { podmanTestEnv } from '../../support/podman/env.ts';
import { get, waitForStatus } from '../../support/podman/http.ts';
import { freePort } from '../../support/podman/ports.ts';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('parseEnvFile (podman 4.3 --env-file rules)', () => {
  it('keeps values verbatim, drops leading blanks, comments and empty lines', () => {
    const env = parseEnvFile(
      bytes('# comment\nA=hello world\n  B=x=y=z\n\tC="q" \n\nD=a # b\nE=\nF =spaced name\r\n   \n#G=1\nH=last'),
      {},
    );
    assert.deepEqual([...env], [
      ['A', 'hello world'],
      ['B', 'x=y=z'],
      ['C', '"q" '],
      ['D', 'a # b'],
      ['E', ''],
      ['F ', 'spaced name'],
      ['H', 'last'],
    ]);
  });

  it('takes lines without "=" from the environment (NAME, PREFIX*), later lines winning', () => {
    const environ = { HOME_DIR: '/h', HOME_URL: 'u', OTHER: 'o', UNSET: undefined };
    const env = parseEnvFile(bytes('OTHER\nMISSING\nUNSET\nHOME_*\nHOME_URL=file wins\n'), environ);
    assert.deepEqual(Object.fromEntries(env), { OTHER: 'o', HOME_DIR: '/h', HOME_URL: 'file wins' });
  });

  it('refuses what podman refuses, naming the line but never its text', () => {
    for (const [text, pattern] of [
      ['OK=1\n=secret-value\n', /line 2: invalid environment variable/],
      [`A=${'x'.repeat(64 * 1024)}\n`, /line 1 is too long/],
    ] as const) {
      assert.throws(() => parseEnvFile(bytes(text), {}), (e: unknown) => {
        assert.ok(e instanceof InvalidInputError);
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes('secret-value') && !e.message.includes('xxxx'));
        return true;
      });
    }
    // The longest line bufio.Scanner accepts: 65535 bytes before the newline.
    assert.equal(parseEnvFile(bytes(`A=${'x'.repeat(64 * 1024 - 3)}\n`), {}).get('A')?.length, 64 * 1024 - 3);
    assert.throws(() => parseEnvFile(Uint8Array.from([0x41, 0x3d, 0xff, 0x0a]), {}), /not valid UTF-8/);
  });
});

describe('parseGoSize (docker/go-units as podman uses it)', () => {
  it('reads memory in binary units and log sizes in decimal units', () => {
    assert.equal(parseGoSize('64M', 1024, 'memory'), 64 * 1024 * 1024);
    assert.equal(parseGoSize('512m', 1024, 'memory'), 512 * 1024 * 1024);
    assert.equal(parseGoSize('1.5g', 1024, 'memory'), 1.5 * 1024 ** 3);
    assert.equal(parseGoSize('1mb', 1000, 'size'), 1_000_000);
    assert.equal(parseGoSize('10MiB', 1000, 'size'), 10_000_000);
    assert.equal(parseGoSize('2 kb', 1000, 'size'), 2000);
    assert.equal(parseGoSize('4096', 1000, 'size'), 4096);
    assert.equal(parseGoSize('7b', 1024, 'memory'), 7);
    for (const bad of ['', 'M', '1x', '1mbb', '1ib', '-1m', ' 1m']) {
      assert.throws(() => parseGoSize(bad, 1024, 'memory'), InvalidInputError, bad);
    }
  });
});

const podmanMissing = ['/usr/bin/podman', BUSYBOX].filter((p) => !existsSync(p));

describe('PodmanApi against a real podman service', { skip: podmanMissing.length > 0 ? `needs ${podmanMissing.join(', ')}` : false }, () => {
  const app = `papi-${randomBytes(4).toString('hex')}`;
  // podman run copies the caller's proxy variables into containers (--http-proxy defaults to true);
  // the service copies its own: the parity test checks that both arrive.
  const env = { ...podmanTestEnv(), http_proxy: 'http://pvdify-test-proxy.invalid:3128' };
  const cli = new PodmanCli({ env });
  const logLines: string[] = [];
  const services: PodmanService[] = [];
  const pods: string[] = [];
  let dir = '';
  let service: PodmanService;
  let api: PodmanApi;
  let image = '';

  const podman = (...args: string[]) => execa('podman', args, { env, reject: false });
  const inspect = async (name: string): Promise<Inspect> => {
    const r = await podman('container', 'inspect', '--format', 'json', name);
    assert.equal(r.exitCode, 0, r.stderr);
    const [first] = JSON.parse(r.stdout) as Inspect[];
    assert.ok(first, `no inspect output for ${name}`);
    return first;
  };
  const namesPresent = async (name: string) =>
    (await podman('ps', '--all', '--format', '{{.Names}}', '--filter', `name=^${name}$`)).stdout.split('\n').filter(Boolean);
  const start = async (socketName: string) => {
    const s = await startPodmanService({ socketPath: join(dir, socketName), env, log: recordingLogger(logLines) });
    services.push(s);
    return s;
  };

  before(async () => {
    image = (await buildTestImage({ tag: 'localhost/pvdify-test-app:v1', body: 'pvdify test app v1' })).tag;
    // Short: a unix socket path must stay under 108 bytes.
    dir = await mkdtemp(join(tmpdir(), 'pvd-api-'));
    service = await start('podman.sock');
    api = new PodmanApi({ socketPath: service.socketPath, log: recordingLogger(logLines) });
  });

  after(async () => {
    try {
      await removeAppContainers([app]);
      for (const pod of pods) await podman('pod', 'rm', '--force', '--ignore', '--time', '0', pod);
    } finally {
      await Promise.allSettled(services.map((s) => s.stop()));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers ping and tells present images from missing ones', async () => {
    assert.equal(service.alive(), true);
    assert.equal(await api.ping(), true);
    assert.equal(await api.imageExists(image), true);
    assert.equal(await api.imageExists('pvdify-test-app:v1'), true, 'short names resolve as in the CLI');
    assert.equal(await api.imageExists('localhost/pvdify-no-such-image:1'), false);
    assert.equal(await api.imageExists('127.0.0.1:5000/org/pvdify-no-such:v1'), false);
  });

  it('keeps the socket owner-only', async () => {
    const st = await stat(service.socketPath);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  it('creates the same container as PodmanCli.run for the same options', async () => {
    const envFile = join(dir, 'parity.env');
    await writeFile(
      envFile,
      [
        '# a comment line',
        'GREETING=hello world',
        'EQUALS=a=b=c',
        'DQUOTED="double quoted"',
        "SQUOTED='single quoted'",
        'HASH=value # not a comment',
        '   INDENTED=leading blanks go',
        '',
        '\tTABBED=trailing blanks stay  ',
        'EMPTY=',
        'CRLF=carriage return\r',
        'PORT=1234',
        'PVDIFY_TEST_PASSTHROUGH',
        'PVDIFY_TEST_NOT_SET_ANYWHERE',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const [cliPort, apiPort] = [await freePort(), await freePort()];
    const options = (name: string, port: number): PodmanRunOptions => ({
      name,
      image,
      labels: { 'pvdify.app': app, 'pvdify.process': 'web' },
      publish: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 3000 }],
      envFile,
      publicEnv: { PORT: '3000' },
      memory: '64M',
      cpus: 0.5,
      restart: 'always',
      logMaxSize: '1mb',
      command: ['sh', '-c', 'trap "exit 0" TERM; httpd -f -p "$PORT" -h /www & wait'],
    });
    // A pass-through line reads the environment of whoever parses the file: podman's (inherited
    // from this process) for the CLI, this process's for the API.
    process.env.PVDIFY_TEST_PASSTHROUGH = 'from the environment';
    try {
      await cli.run(options(`${app}-cli`, cliPort));
      await api.run(options(`${app}-api`, apiPort));
    } finally {
      delete process.env.PVDIFY_TEST_PASSTHROUGH;
    }
    const [c, a] = [await inspect(`${app}-cli`), await inspect(`${app}-api`)];

    // HOSTNAME is the container's own short id: present in both, equal in neither.
    const envSet = (i: Inspect) => i.Config.Env.filter((e) => !e.startsWith('HOSTNAME=')).sort();
    assert.deepEqual(envSet(a), envSet(c));
    assert.ok(c.Config.Env.some((e) => e.startsWith('HOSTNAME=')) && a.Config.Env.some((e) => e.startsWith('HOSTNAME=')));
    for (const expected of [
      'GREETING=hello world',
      'EQUALS=a=b=c',
      'DQUOTED="double quoted"',
      "SQUOTED='single quoted'",
      'HASH=value # not a comment',
      'INDENTED=leading blanks go',
      'TABBED=trailing blanks stay  ',
      'EMPTY=',
      'CRLF=carriage return',
      'PORT=3000',
      'PVDIFY_TEST_PASSTHROUGH=from the environment',
      'http_proxy=http://pvdify-test-proxy.invalid:3128',
    ]) {
      assert.ok(a.Config.Env.includes(expected), `API container env has ${JSON.stringify(expected)}`);
    }
    assert.ok(!a.Config.Env.some((e) => e.startsWith('PVDIFY_TEST_NOT_SET_ANYWHERE')));

    const same = (i: Inspect) => ({
      labels: i.Config.Labels,
      cmd: i.Config.Cmd,
      annotations: { ...i.Config.Annotations, 'io.kubernetes.cri-o.Created': null },
      sdNotifyMode: i.Config.sdNotifyMode,
      stopTimeout: i.Config.StopTimeout,
      imageName: i.ImageName,
      restart: i.HostConfig.RestartPolicy,
      memory: i.HostConfig.Memory,
      swap: i.HostConfig.MemorySwap,
      nanoCpus: i.HostConfig.NanoCpus,
      cpuQuota: i.HostConfig.CpuQuota,
      cpuPeriod: i.HostConfig.CpuPeriod,
      log: { type: i.HostConfig.LogConfig.Type, size: i.HostConfig.LogConfig.Size },
      networkMode: i.HostConfig.NetworkMode,
      ulimits: i.HostConfig.Ulimits,
    });
    assert.deepEqual(same(a), same(c));
    assert.deepEqual(same(a), {
      ...same(a),
      cmd: options('', 0).command,
      restart: { Name: 'always', MaximumRetryCount: 0 },
      memory: 64 * 1024 * 1024,
      swap: 2 * 64 * 1024 * 1024,
      nanoCpus: 500_000_000,
      log: { type: 'k8s-file', size: '1MB' },
    });
    assert.equal(a.Config.Labels['pvdify.app'], app);
    assert.deepEqual(c.HostConfig.PortBindings, { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: String(cliPort) }] });
    assert.deepEqual(a.HostConfig.PortBindings, { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: String(apiPort) }] });
    // The one known difference: only the CLI records its argv.
    assert.ok((c.Config.CreateCommand ?? []).length > 0);
    assert.equal((a.Config.CreateCommand ?? []).length, 0);

    for (const port of [cliPort, apiPort]) {
      const answer = await waitForStatus(port, '/cgi-bin/env', 200);
      assert.equal(answer.body, 'PORT=3000\nGREETING=hello world\n', `port ${port}`);
    }
  });

  it('replaces a running container of the same name only when asked to', async () => {
    const port = await freePort();
    const o = (replace: boolean): PodmanRunOptions => ({
      name: `${app}-replace`,
      image,
      labels: { 'pvdify.app': app },
      publish: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 3000 }],
      publicEnv: { PORT: '3000' },
      replace,
    });
    const first = await api.run(o(true));
    assert.equal((await waitForStatus(port, '/', 200)).body, 'pvdify test app v1\n');
    await assert.rejects(api.run(o(false)), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError && !(e instanceof PodmanApiUnavailable));
      assert.equal(e.message, `could not start ${app}-replace: that name is already in use`);
      return true;
    });
    const second = await api.run(o(true));
    assert.notEqual(second, first);
    assert.match(second, /^[0-9a-f]{64}$/);
    assert.deepEqual(await namesPresent(`${app}-replace`), [`${app}-replace`]);
    const now = await inspect(`${app}-replace`);
    assert.equal(now.Id, second);
    assert.equal(now.State.Running, true);
    assert.equal((await waitForStatus(port, '/', 200)).status, 200);
  });

  it('joins an existing pod, which publishes the port', async () => {
    const port = await freePort();
    const pod = `${app}-pod`;
    pods.push(pod);
    const created = await podman('pod', 'create', '--name', pod, '--label', `pvdify.app=${app}`, '--share', 'net', '--publish', `127.0.0.1:${port}:3000`);
    assert.equal(created.exitCode, 0, created.stderr);
    await api.run({ name: `${app}-in-pod`, image, labels: { 'pvdify.app': app }, publicEnv: { PORT: '3000' }, pod, publish: [] });
    assert.equal((await waitForStatus(port, '/', 200)).body, 'pvdify test app v1\n');
    const i = await inspect(`${app}-in-pod`);
    assert.equal(i.Pod, created.stdout.trim());
  });

  it('says clearly that an image is missing, and leaves no container behind', async () => {
    const name = `${app}-noimage`;
    await assert.rejects(api.run({ name, image: 'localhost/pvdify-no-such-image:1', labels: { 'pvdify.app': app } }), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError && !(e instanceof PodmanApiUnavailable));
      assert.equal(e.tool, 'podman');
      assert.equal(e.message, `could not start ${name}: image not known`);
      assert.match(e.hint ?? '', /pull the image first/);
      return true;
    });
    assert.deepEqual(await namesPresent(name), []);
  });

  it('reports a taken port like the CLI, removes the container that did not start, and logs no secret', async () => {
    const port = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port }, resolve));
    const envFile = join(dir, 'secret.env');
    await writeFile(envFile, 'API_KEY=sk-live-do-not-leak\n', { mode: 0o600 });
    const name = `${app}-taken`;
    logLines.length = 0;
    try {
      await assert.rejects(
        api.run({ name, image, labels: { 'pvdify.app': app }, envFile, publicEnv: { PORT: '3000' }, publish: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 3000 }] }),
        (e: unknown) => {
          assert.ok(e instanceof ExternalToolError && !(e instanceof PodmanApiUnavailable));
          assert.equal(e.message, `could not start ${name}: bind: address already in use`);
          return true;
        },
      );
    } finally {
      holder.close();
    }
    assert.deepEqual(await namesPresent(name), [], 'the created container was removed');
    assert.ok(logLines.some((l) => l.includes('address already in use')), 'the podman error body is logged');
    assert.ok(!logLines.some((l) => l.includes('sk-live-do-not-leak')), 'no env value in the log');
  });

  it('throws PodmanApiUnavailable quickly when nothing listens on the socket', async () => {
    const gone = new PodmanApi({ socketPath: join(dir, 'nothing-here.sock') });
    const started = performance.now();
    assert.equal(await gone.ping(), false);
    await assert.rejects(gone.imageExists(image), PodmanApiUnavailable);
    await assert.rejects(gone.run({ name: `${app}-never`, image, labels: { 'pvdify.app': app } }), (e: unknown) => {
      assert.ok(e instanceof PodmanApiUnavailable);
      assert.match(e.message, /ENOENT/);
      return true;
    });
    assert.ok(performance.now() - started < 1000, 'fails fast');
  });

  it('leaves containers running when the service is stopped or killed, and restarts on a stale socket', async () => {
    const port = await freePort();
    const own = await start('own.sock');
    const name = `${app}-survivor`;
    await own.api.run({ name, image, labels: { 'pvdify.app': app }, publicEnv: { PORT: '3000' }, publish: [{ hostIp: '127.0.0.1', hostPort: port, containerPort: 3000 }] });
    assert.equal((await waitForStatus(port, '/', 200)).status, 200);
    await own.stop();
    assert.equal(own.alive(), false);
    assert.equal(existsSync(own.socketPath), false, 'socket removed');
    assert.equal((await inspect(name)).State.Running, true);
    assert.equal((await get(port, '/')).status, 200);

    // SIGKILL leaves the socket file behind; the next start removes it and serves again.
    const again = await start('own.sock');
    process.kill(again.pid, 'SIGKILL');
    for (let i = 0; i < 100 && again.alive(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(again.alive(), false);
    assert.equal(existsSync(again.socketPath), true, 'a killed service leaves its socket');
    assert.equal((await inspect(name)).State.Running, true);
    assert.equal((await get(port, '/')).status, 200);
    const third = await start('own.sock');
    await again.stop();
    assert.equal(await third.api.imageExists(image), true, 'stopping the dead service left the new socket alone');
    await third.stop();
  });

  it('refuses to start a second service on a socket that is in use', async () => {
    await assert.rejects(startPodmanService({ socketPath: service.socketPath, env }), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.match(e.message, /already answers/);
      return true;
    });
    assert.equal(await api.ping(), true, 'the running service was left alone');
  });

  it('fails fast when podman is missing or the service cannot listen', async () => {
    await assert.rejects(startPodmanService({ bin: join(dir, 'no-podman-here'), socketPath: join(dir, 'x.sock'), env }), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.match(e.message, /no-podman-here not found$/);
      return true;
    });
    const started = performance.now();
    await assert.rejects(startPodmanService({ socketPath: join(dir, 'no-such-dir', 'x.sock'), env, log: recordingLogger(logLines) }), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.match(e.message, /^podman system service exited before it answered \(exit code \d+\)$/);
      return true;
    });
    assert.ok(performance.now() - started < 5000, 'did not wait for the ready timeout');
  });

  it('kills a service that never answers and says so', async () => {
    const stub = join(dir, 'silent-podman');
    const pidFile = join(dir, 'silent.pid');
    await writeFile(stub, `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 30\n`, { mode: 0o755 });
    await assert.rejects(startPodmanService({ bin: stub, socketPath: join(dir, 'silent.sock'), readyTimeoutMs: 300 }), (e: unknown) => {
      assert.ok(e instanceof ExternalToolError);
      assert.match(e.message, /did not answer on .*silent\.sock within 300 ms/);
      return true;
    });
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    assert.ok(pid > 0);
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the stub was killed');
  });
});

interface Inspect {
  Id: string;
  ImageName: string;
  Pod: string;
  State: { Running: boolean };
  Config: {
    Env: string[];
    Labels: Record<string, string>;
    Cmd: string[];
    Annotations: Record<string, string>;
    CreateCommand?: string[] | null;
    StopTimeout: number;
    sdNotifyMode?: string;
  };
  HostConfig: {
    PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    Memory: number;
    MemorySwap: number;
    NanoCpus: number;
    CpuQuota: number;
    CpuPeriod: number;
    LogConfig: { Type: string; Size: string };
    NetworkMode: string;
    Ulimits: unknown;
  };
}

/** A logger that keeps every entry as one JSON line, so tests can search what was logged. */
function recordingLogger(lines: string[]): Logger {
  const push = (level: string) => (obj: object | string, msg?: string) => {
    lines.push(JSON.stringify({ level, obj, msg }));
  };
  const logger: Logger = { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error'), child: () => logger };
  return logger;
}
