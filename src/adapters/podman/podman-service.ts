/**
 * Runs `podman system service` as a child process so that `PodmanApi` has a socket to talk to.
 *
 * Containers outlive the service (checked on podman 4.3.1 with runc and cgroupfs, and by the
 * live test): podman starts each container's conmon double-forked into its own session, so conmon
 * is re-parented to PID 1 and is not in the service's process group; SIGTERM or SIGKILL to the
 * service leaves every container running, and `--restart` keeps working because conmon's exit
 * command is a fresh `podman container cleanup`, not the service. (Stopping a systemd unit whose
 * cgroup holds the conmons would still kill them: that is true of CLI-started containers too.)
 *
 * The socket is owner-only: podman 4.3 creates it under umask 0177 (0600) and we chmod it again
 * once it exists, in case another version does not.
 */
import { spawn } from 'node:child_process';
import { chmod, lstat, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExternalToolError } from '../../core/errors.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import { PodmanApi } from './podman-api.ts';
import { terminate } from '../terminate.ts';

export interface PodmanServiceOptions {
  /** Path or name of the podman binary (default `podman`). */
  bin?: string;
  /** Where the service listens; a stale socket file there is removed first. */
  socketPath: string;
  /** Variables added to the inherited environment (e.g. `CONTAINERS_CONF`). */
  env?: Record<string, string | undefined>;
  log?: Logger;
  /** How long the service gets to answer `_ping` (default 10 s). */
  readyTimeoutMs?: number;
}

/** A running `podman system service` and a client for it. */
export interface PodmanService {
  socketPath: string;
  api: PodmanApi;
  pid: number;
  /** False once the process has exited, for whatever reason. */
  alive(): boolean;
  /** SIGTERM, SIGKILL after 5 s, then removes the socket file. Containers keep running. */
  stop(): Promise<void>;
}

const POLL_MS = 20;
const KILL_AFTER_MS = 5_000;

export async function startPodmanService(opts: PodmanServiceOptions): Promise<PodmanService> {
  const bin = opts.bin ?? 'podman';
  const { socketPath } = opts;
  const log = (opts.log ?? silentLogger).child({ component: 'podman-service' });
  const api = new PodmanApi({ socketPath, log: opts.log });
  await removeStaleSocket(socketPath, api);

  const child = spawn(bin, ['system', 'service', '--time=0', `unix://${socketPath}`], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Written by the event handlers below (an object, so TypeScript does not narrow it away).
  const state: { exited: boolean; spawnError: NodeJS.ErrnoException | null } = { exited: false, spawnError: null };
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      state.exited = true;
      log.info({ pid: child.pid, code, signal }, 'podman service exited');
      resolve();
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      // Spawning failed (no 'exit' follows): nothing runs.
      state.spawnError = e;
      state.exited = true;
      resolve();
    });
  });
  createInterface({ input: child.stdout }).on('line', (line) => log.info({ line }, 'podman service'));
  createInterface({ input: child.stderr }).on('line', (line) => log.warn({ line }, 'podman service'));
  // A daemon that exits normally takes the service with it rather than leaving it orphaned.
  const onProcessExit = () => child.kill('SIGTERM');
  process.once('exit', onProcessExit);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', onProcessExit);
      if (!state.exited && (await terminate(child, exit, KILL_AFTER_MS))) log.warn({ pid: child.pid }, 'podman service ignored SIGTERM: it was killed');
      // Our process is gone, so an answer on the path comes from a newer service: leave its socket.
      if (!(await api.ping())) await rm(socketPath, { force: true });
    })();
    return stopping;
  };

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
  for (;;) {
    if (state.exited) {
      await stop();
      const err = state.spawnError;
      if (err) throw new ExternalToolError('podman', err.code === 'ENOENT' ? `${bin} not found` : `could not start ${bin}: ${err.code ?? err.message}`);
      throw new ExternalToolError('podman', `podman system service exited before it answered (exit code ${String(child.exitCode ?? child.signalCode)})`, 'its stderr is in the log');
    }
    if (await api.ping()) break;
    if (Date.now() > deadline) {
      await stop();
      throw new ExternalToolError(
        'podman',
        `podman system service did not answer on ${socketPath} within ${opts.readyTimeoutMs ?? 10_000} ms`,
        'check that `podman info` works for this user and that the socket directory is writable',
      );
    }
    await sleep(POLL_MS);
  }
  await chmod(socketPath, 0o600);
  log.info({ pid: child.pid, socketPath }, 'podman service ready');

  return {
    socketPath,
    api,
    pid: child.pid ?? 0,
    alive: () => !state.exited,
    stop,
  };
}

/**
 * Removes a socket file nobody answers on (left by a killed service). A live service there, or a
 * file that is not a socket, is refused rather than cut off or deleted.
 */
async function removeStaleSocket(socketPath: string, api: PodmanApi): Promise<void> {
  const st = await lstat(socketPath).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (st === null) return;
  if (!st.isSocket()) throw new ExternalToolError('podman', `${socketPath} exists and is not a socket`, 'pick another socket path');
  if (await api.ping()) {
    throw new ExternalToolError('podman', `a podman service already answers on ${socketPath}`, 'stop it, or pick another socket path');
  }
  await rm(socketPath, { force: true });
}
