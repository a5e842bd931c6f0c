/**
 * The environment podman needs on these machines: `CONTAINERS_CONF` pointing at the project's
 * `.ci/containers.conf` (runc, cgroupfs, no default ulimits), unless the caller already set one.
 */
import { fileURLToPath } from 'node:url';

export const PROJECT_CONTAINERS_CONF = fileURLToPath(new URL('../../../.ci/containers.conf', import.meta.url));

export function podmanTestEnv(base: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  return { ...base, CONTAINERS_CONF: base.CONTAINERS_CONF || PROJECT_CONTAINERS_CONF };
}
