/**
 * A private Podman image/container store in a temp dir (vfs driver), for tests that must see a
 * known set of images: prune tests cannot run against the machine's shared store, where other
 * test suites keep their images.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { podmanTestEnv } from './env.ts';

export interface IsolatedStore {
  dir: string;
  /** Environment that points podman at this store (and at the project's containers.conf). */
  env: Record<string, string | undefined>;
  /** Removes every container and image of this store, then the directory. */
  dispose(): Promise<void>;
}

export async function createIsolatedStore(): Promise<IsolatedStore> {
  const dir = await mkdtemp(join(tmpdir(), 'pvdify-podman-store-'));
  const conf = join(dir, 'storage.conf');
  await writeFile(
    conf,
    `[storage]\ndriver = "vfs"\ngraphroot = "${join(dir, 'graph')}"\nrunroot = "${join(dir, 'run')}"\n`,
  );
  const env = { ...podmanTestEnv(), CONTAINERS_STORAGE_CONF: conf };
  return {
    dir,
    env,
    async dispose() {
      // Only this store's containers: the storage conf above scopes `--all` to it.
      await execa('podman', ['rm', '--all', '--force', '--time', '0'], { env, reject: false });
      await execa('podman', ['rmi', '--all', '--force'], { env, reject: false });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
