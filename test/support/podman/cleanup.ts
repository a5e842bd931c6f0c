/** Removes every container a live test created for its apps (found by the pvdify.app label). */
import { execa } from 'execa';
import { podmanTestEnv } from './env.ts';

export async function removeAppContainers(apps: string[], env = podmanTestEnv()): Promise<void> {
  for (const app of apps) {
    const ids = await execa('podman', ['ps', '--all', '--quiet', '--filter', `label=pvdify.app=${app}`], { env });
    const list = ids.stdout.split('\n').filter((l) => l.trim() !== '');
    if (list.length > 0) await execa('podman', ['rm', '--force', '--time', '0', ...list], { env, reject: false });
  }
}

/** Container names of the given apps still present (running or not). */
export async function appContainers(apps: string[], env = podmanTestEnv()): Promise<string[]> {
  const out: string[] = [];
  for (const app of apps) {
    const r = await execa('podman', ['ps', '--all', '--format', '{{.Names}}', '--filter', `label=pvdify.app=${app}`], { env });
    out.push(...r.stdout.split('\n').filter((l) => l.trim() !== ''));
  }
  return out;
}
