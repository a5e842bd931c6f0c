/**
 * Stops a child process the way a supervisor does: SIGTERM, then SIGKILL if it has not exited
 * within `graceMs`. `exited` settles when the child is gone (its exit event, execa's promise).
 * Resolves true when SIGKILL was needed.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';

export async function terminate(child: Pick<ChildProcess, 'kill'>, exited: Promise<unknown>, graceMs: number): Promise<boolean> {
  child.kill('SIGTERM');
  const ac = new AbortController();
  const stopped = await Promise.race([
    exited.then(
      () => true,
      () => true,
    ),
    delay(graceMs, false, { signal: ac.signal }).catch(() => false),
  ]);
  ac.abort();
  if (stopped) return false;
  child.kill('SIGKILL');
  await exited.catch(() => {});
  return true;
}
