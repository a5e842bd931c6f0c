/**
 * A real local registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1, storing
 * into a temp dir, optionally behind htpasswd basic auth. `pushImage` copies a local image
 * into it with podman, so pull tests go through a real registry protocol.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { withAuthFile } from '../../../src/adapters/podman/podman-cli.ts';
import type { RegistryAuth } from '../../../src/core/ports/runtime.ts';
import { podmanTestEnv } from '../podman/env.ts';
import { freePort } from '../podman/ports.ts';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** `127.0.0.1:PORT`, the registry part of image references. */
  host: string;
  dir: string;
  /** Stops the registry and removes its storage. */
  stop(): Promise<void>;
}

export async function startRegistry(opts: { auth?: RegistryAuth } = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'pvdify-registry-'));
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await launch(dir, opts.auth);
      } catch (e) {
        // Another process may have taken the port between freePort() and the registry's bind.
        if (attempt >= 3) throw e;
      }
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function launch(dir: string, auth: RegistryAuth | undefined): Promise<TestRegistry> {
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (auth) {
    const htpasswd = join(dir, 'htpasswd');
    await writeFile(htpasswd, `${auth.username}:${await bcryptHash(auth.password)}\n`, { mode: 0o600 });
    lines.push('auth:', '  htpasswd:', '    realm: pvdify-test', `    path: ${htpasswd}`);
  }
  const config = join(dir, 'config.yml');
  await writeFile(config, `${lines.join('\n')}\n`);
  const logFile = join(dir, 'registry.err');
  const proc = execa(REGISTRY_BIN, ['serve', config], {
    reject: false,
    stdin: 'ignore',
    stdout: { file: join(dir, 'registry.out') },
    stderr: { file: logFile },
  });
  let exited = false;
  void proc.then(() => {
    exited = true;
  });

  const stop = async (): Promise<void> => {
    if (!exited) proc.kill('SIGTERM');
    await proc;
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`docker-registry exited during start-up: ${log.slice(-500)}`);
    }
    // 401 counts: with auth on, /v2/ answers 401 as soon as it serves.
    const status = await fetch(`http://${host}/v2/`).then((r) => r.status, () => 0);
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry on ${host} did not answer GET /v2/ within 15 s`);
    }
    await sleep(50);
  }
  return {
    host,
    dir,
    async stop() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A bcrypt hash for htpasswd, the only scheme the registry accepts. Neither bcryptjs nor
 * apache2-utils is installed, but perl (always on Debian) calls libcrypt's crypt(), which does
 * `$2b$`; the password goes through stdin, not argv.
 */
export async function bcryptHash(password: string): Promise<string> {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(22);
  // The 22nd character only carries 2 bits: keep it canonical.
  const salt = [...bytes].map((b, i) => (i === 21 ? '.Oeu'[b % 4] : alphabet[b % 64])).join('');
  const r = await execa('perl', ['-e', 'my $p = <STDIN>; print crypt($p, $ARGV[0]);', `$2b$05$${salt}`], {
    input: password,
  });
  if (!r.stdout.startsWith('$2b$05$')) throw new Error('perl crypt() cannot make bcrypt hashes on this machine');
  return r.stdout;
}

/** `podman push --tls-verify=false <localTag> <ref>`, with credentials via a temporary auth file. */
export async function pushImage(
  localTag: string,
  ref: string,
  opts: { auth?: RegistryAuth; env?: Record<string, string | undefined> } = {},
): Promise<void> {
  const env = opts.env ?? podmanTestEnv();
  const push = (extra: string[]) =>
    execa('podman', ['push', '--quiet', '--tls-verify=false', ...extra, localTag, ref], { env });
  if (opts.auth) {
    const registry = ref.slice(0, ref.indexOf('/'));
    await withAuthFile(registry, opts.auth, tmpdir(), (file) => push(['--authfile', file]));
  } else {
    await push([]);
  }
}
