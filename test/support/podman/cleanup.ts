/**
 * Removes every container and network pod a live test created for its apps (found by the
 * pvdify.app label, which a pod's infra container carries too).
 */
import { execa } from 'execa';
import { podmanTestEnv } from './env.ts';

export async function removeAppContainers(apps: string[], env = podmanTestEnv()): Promise<void> {
  for (const app of apps) {
    const pods = await execa('podman', ['pod', 'ps', '--quiet', '--filter', `label=pvdify.app=${app}`], { env });
    const podIds = pods.stdout.split('\n').filter((l) => l.trim() !== '');
    if (podIds.length > 0) await execa('podman', ['pod', 'rm', '--force', '--time', '0', ...podIds], { env, reject: false });
    const ids = await execa('podman', ['ps', '--all', '--quiet', '--filter', `label=pvdify.app=${app}`], { env });
    const list = ids.stdout.split('\n').filter((l) => l.trim() !== '');
    if (list.length > 0) await execa('podman', ['rm', '--force', '--time', '0', ...list], { env, reject: false });
  }
}

/** Container names of the given apps still present (running or not), pods' infra containers included. */
export async function appContainers(apps: string[], env = podmanTestEnv()): Promise<string[]> {
  const out: string[] = [];
  for (const app of apps) {
    const r = await execa('podman', ['ps', '--all', '--format', '{{.Names}}', '--filter', `label=pvdify.app=${app}`], { env });
    out.push(...r.stdout.split('\n').filter((l) => l.trim() !== ''));
  }
  return out;
}

/**
 * The argv a container was created with, as podman recorded it ([] when it was created through
 * the REST API, which records none: how the tests tell the two paths apart).
 */
export async function createCommandOf(name: string, env = podmanTestEnv()): Promise<string[]> {
  const r = await execa('podman', ['container', 'inspect', '--format', '{{json .Config.CreateCommand}}', name], { env });
  return (JSON.parse(r.stdout) as string[] | null) ?? [];
}
