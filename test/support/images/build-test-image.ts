/**
 * Builds tiny app images from the host's static busybox with `podman import` (no registry, no
 * network): busybox `httpd` serves `/www` on $PORT (3000). `/` is `index.html` holding `body`,
 * `/health` a file that exists only in the healthy variant (so the unhealthy one answers 404), and
 * `/cgi-bin/env` prints PORT and GREETING so tests can see the env file arrive. A content label
 * lets an existing tag with the same content be reused instead of rebuilt.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { podmanTestEnv } from '../podman/env.ts';

export const BUSYBOX = '/bin/busybox';
const CONTENT_LABEL = 'pvdify.test.content';
/** Bump when the layout below changes, so cached images are rebuilt. */
const RECIPE_VERSION = 4;

/**
 * PID 1 ignores SIGTERM unless it handles it, and busybox httpd does not: the shell wrapper traps
 * TERM so `podman stop` takes milliseconds instead of the 10 s kill timeout.
 */
const CMD = ['sh', '-c', 'trap "exit 0" TERM INT; echo "listening on ${PORT:-3000}"; httpd -f -v -p "${PORT:-3000}" -h /www & wait'];

// Headers need CRLF: busybox httpd passes CGI output through and fetch() refuses bare LF.
const ENV_CGI = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"PORT=$PORT\"\necho \"GREETING=$GREETING\"\n";

export interface TestImageOptions {
  /** Local tag, e.g. `localhost/pvdify-test-app:v1`. */
  tag: string;
  /** Served at `/`; put a version string in it to tell releases apart. */
  body: string;
  /** False builds a variant without `/health` (404). Default true. */
  healthy?: boolean;
  /** Podman environment (default `podmanTestEnv()`), e.g. an isolated store's. */
  env?: Record<string, string | undefined>;
}

export interface TestImage {
  tag: string;
  id: string;
  /** False when an existing image with the same content was reused. */
  built: boolean;
}

export async function buildTestImage(opts: TestImageOptions): Promise<TestImage> {
  const env = opts.env ?? podmanTestEnv();
  const healthy = opts.healthy ?? true;
  const busyboxHash = createHash('sha256').update(await readFile(BUSYBOX)).digest('hex');
  const content = createHash('sha256')
    .update(JSON.stringify({ v: RECIPE_VERSION, body: opts.body, healthy, busyboxHash, CMD }))
    .digest('hex')
    .slice(0, 32);

  const existing = await execa('podman', ['image', 'inspect', '--format', 'json', opts.tag], { env, reject: false });
  let staleId: string | null = null;
  if (existing.exitCode === 0) {
    const [info] = JSON.parse(existing.stdout) as Array<{ Id: string; Labels?: Record<string, string> | null }>;
    if (info && info.Labels?.[CONTENT_LABEL] === content) return { tag: opts.tag, id: info.Id, built: false };
    staleId = info?.Id ?? null;
  }

  const dir = await mkdtemp(join(tmpdir(), 'pvdify-test-image-'));
  try {
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'www', 'cgi-bin'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
    await chmod(join(root, 'bin', 'busybox'), 0o755);
    for (const applet of ['sh', 'httpd', 'sleep', 'echo', 'cat', 'env']) await symlink('busybox', join(root, 'bin', applet));
    await writeFile(join(root, 'www', 'index.html'), `${opts.body}\n`);
    if (healthy) await writeFile(join(root, 'www', 'health'), 'ok\n');
    await writeFile(join(root, 'www', 'cgi-bin', 'env'), ENV_CGI, { mode: 0o755 });

    const tarball = join(dir, 'rootfs.tar');
    await execa('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tarball, '.']);
    const imported = await execa(
      'podman',
      [
        'import',
        '--quiet',
        '--change',
        `CMD ${JSON.stringify(CMD)}`,
        '--change',
        `LABEL ${CONTENT_LABEL}=${content}`,
        tarball,
        opts.tag,
      ],
      { env },
    );
    const id = imported.stdout.trim().split('\n').pop()?.replace(/^sha256:/, '') ?? '';
    // The tag moved to the new image: drop the old one unless something else still uses it.
    if (staleId && staleId !== id) await execa('podman', ['rmi', staleId], { env, reject: false });
    return { tag: opts.tag, id, built: true };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
