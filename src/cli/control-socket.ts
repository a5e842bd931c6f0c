/**
 * pvdifyd's control socket, `<state dir>/pvdifyd.sock`: a `pvdify` on the same machine hands its
 * argv to the running daemon instead of opening the whole runtime itself (no module loading,
 * no index check, no router probe per command: the daemon holds them open and warm). The daemon
 * runs the command through the same dispatch as the CLI, as `cli:<user>`.
 *
 * Who may connect: the socket is mode 0600, so only the daemon's own user (and root) can; they
 * can read the state dir and the age key anyway, which is why terminal actors are admins. The
 * client names its unix user, as the CLI does for itself.
 *
 * Protocol, one JSON object per line (UTF-8):
 *   client → daemon   {"v":1,"argv":["deploy","shop","ghcr.io/org/shop:v2"],"user":"alice"}
 *   daemon → client   {"progress":"  ok   pull        0.1 s\n"}    zero or more, as they happen
 *                     {"exit":0,"stdout":"…","stderr":"…"}        last line, then the daemon closes
 * A client that disconnects does not cancel the command: a deploy runs to its end.
 */
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../core/ports/clock.ts';
import { EXIT_INTERNAL, EXIT_REFUSED } from './dispatch.ts';
import { cliActor, dispatchWithRuntime, type CliRuntime } from './pvdify.ts';

export const CONTROL_PROTOCOL_VERSION = 1;
const MAX_REQUEST_BYTES = 256 * 1024;

export function controlSocketPath(stateDir: string): string {
  return join(stateDir, 'pvdifyd.sock');
}

const RequestSchema = z.object({
  v: z.literal(CONTROL_PROTOCOL_VERSION),
  argv: z.array(z.string().max(64 * 1024)).max(256),
  // A unix user name as `userInfo()` gives it (or `uid<N>`): it ends up in the audit trail.
  user: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/),
});

export type ControlRequest = z.infer<typeof RequestSchema>;

export interface ControlReply {
  exit: number;
  stdout: string;
  stderr: string;
}

export interface ControlSocket {
  readonly path: string;
  /** Stops accepting; waits for commands in progress to finish; removes the socket file. */
  close(): Promise<void>;
}

function line(value: object): string {
  return `${JSON.stringify(value)}\n`;
}

export async function startControlSocket(opts: { stateDir: string; runtime: CliRuntime; log: Logger }): Promise<ControlSocket> {
  const path = controlSocketPath(opts.stateDir);
  const log = opts.log.child({ component: 'control-socket' });
  const running = new Set<Promise<void>>();

  async function serveOne(socket: net.Socket, request: ControlRequest): Promise<void> {
    const actor = cliActor(request.user);
    const send = (value: object) => {
      if (!socket.destroyed) socket.write(line(value));
    };
    let reply: ControlReply;
    const started = performance.now();
    try {
      const result = await dispatchWithRuntime(opts.runtime, request.argv, actor, (text) => send({ progress: text }));
      reply = { exit: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    } catch (e) {
      // dispatch reports its own failures; reaching here is a bug, its details go to the log.
      log.error({ err: e }, 'control socket: command crashed');
      reply = { exit: EXIT_INTERNAL, stdout: '', stderr: 'error: pvdifyd failed to run the command (details in its log)\n' };
    }
    // Only a command's name is logged: its arguments may hold a config value.
    const command = /^[a-z][a-z:-]{0,31}$/.test(request.argv[0] ?? '') ? request.argv[0] : '(not a command)';
    log.info({ command, actor: actor.id, exit: reply.exit, ms: Math.round(performance.now() - started) }, 'control command');
    if (socket.destroyed) log.warn({ command, actor: actor.id, exit: reply.exit }, 'client left before the reply; the command ran to its end');
    socket.end(line(reply));
  }

  const server = net.createServer((socket) => {
    let buffered = '';
    let handled = false;
    socket.setEncoding('utf8');
    // The request comes at once; a command, once started, may take minutes (a deploy).
    socket.setTimeout(10_000, () => {
      if (!handled) socket.destroy();
    });
    socket.on('error', () => {
      // A client that went away: nothing to answer.
    });
    socket.on('data', (chunk: string) => {
      if (handled) return;
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (end === -1) {
        if (Buffer.byteLength(buffered) > MAX_REQUEST_BYTES) {
          handled = true;
          socket.end(line({ exit: EXIT_REFUSED, stdout: '', stderr: 'error: request too large\n' }));
        }
        return;
      }
      handled = true;
      socket.setTimeout(0);
      let request: ControlRequest;
      try {
        request = RequestSchema.parse(JSON.parse(buffered.slice(0, end)));
      } catch {
        socket.end(line({ exit: EXIT_REFUSED, stdout: '', stderr: `error: not a pvdify control request (protocol v${CONTROL_PROTOCOL_VERSION})\nhint: use the pvdify that came with this pvdifyd\n` }));
        return;
      }
      const job = serveOne(socket, request).finally(() => running.delete(job));
      running.add(job);
    });
  });

  // A socket file left by a daemon that was killed: nothing listens on it any more.
  rmSync(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  log.info({ path }, 'control socket listening');

  return {
    path,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...running]);
      rmSync(path, { force: true });
    },
  };
}
