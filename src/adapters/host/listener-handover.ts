/**
 * `net.ipv4.tcp_migrate_req` (Linux 5.14+): when a listening socket in an SO_REUSEPORT group is
 * closed, the kernel moves the connections queued on it to another socket of the group instead
 * of resetting them. Caddy reopens its TCP listeners that way on every reload, so the router's
 * front tier (reloaded when an app is created or deleted) needs it to drop nothing.
 *
 * Set when we may (root in the host's network namespace); otherwise the log says how.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from '../../core/ports/clock.ts';

export const TCP_MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';

export type ListenerHandover = 'on' | 'enabled' | 'denied' | 'unsupported';

const FIX = 'run `sysctl -w net.ipv4.tcp_migrate_req=1` as root and persist it in /etc/sysctl.d/60-pvdify.conf';

/** Reads the setting; `unsupported` when the kernel has no such knob (before 5.14). */
export async function listenerHandoverState(file = TCP_MIGRATE_REQ): Promise<'on' | 'off' | 'unsupported'> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return 'unsupported';
  return text.trim() === '1' ? 'on' : 'off';
}

/** Turns the setting on if it is off and we are allowed to; never throws. */
export async function enableListenerHandover(log: Logger, file = TCP_MIGRATE_REQ): Promise<ListenerHandover> {
  const state = await listenerHandoverState(file);
  if (state === 'on') return 'on';
  if (state === 'unsupported') {
    log.warn({ file }, 'this kernel cannot hand queued connections to a new listener (Linux 5.14+ can): creating or deleting an app may reset a few connections');
    return 'unsupported';
  }
  try {
    await writeFile(file, '1\n');
    log.info({ file }, 'enabled net.ipv4.tcp_migrate_req so router reloads hand queued connections over');
    return 'enabled';
  } catch (e) {
    log.warn({ file, err: (e as NodeJS.ErrnoException).code ?? (e as Error).message, fix: FIX }, 'net.ipv4.tcp_migrate_req is off and cannot be set by this user: creating or deleting an app may reset a few connections');
    return 'denied';
  }
}
