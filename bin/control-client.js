// The `pvdify` side of pvdifyd's control socket (src/cli/control-socket.ts has the protocol):
// when a daemon serves this state dir, the command runs there and this process only relays
// its output, so `pvdify` starts in the time Node itself takes. Plain JavaScript with nothing
// but Node's own modules, loaded before any bundle.
//
// Not used when PVDIFY_DIRECT=1, or when no daemon answers on the socket: the caller then runs
// the command in-process as before.
import net from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

// The same default as src/main.ts (test/cli/control-socket.test.ts checks they agree).
export const DEFAULT_STATE_DIR = '/var/lib/pvdify';
const PROTOCOL_VERSION = 1;

export function controlSocketPath(env) {
  return join(env.PVDIFY_STATE_DIR || DEFAULT_STATE_DIR, 'pvdifyd.sock');
}

function currentUser() {
  try {
    return userInfo().username;
  } catch {
    return `uid${process.getuid?.() ?? 'unknown'}`;
  }
}

/** Connects, or resolves null when no daemon listens (missing socket, refused, not ours to use). */
function connect(path) {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    const fail = () => {
      socket.destroy();
      resolve(null);
    };
    socket.setTimeout(2000, fail);
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.off('error', fail);
      socket.setTimeout(0);
      resolve(socket);
    });
  });
}

/**
 * Runs argv in the daemon. Resolves the exit code, or null when there is no daemon to ask (the
 * caller runs the command itself). Once the request is sent it is never run a second time.
 */
export async function runThroughDaemon(argv, env = process.env, io = { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }) {
  if (env.PVDIFY_DIRECT === '1') return null;
  const socket = await connect(controlSocketPath(env));
  if (socket === null) return null;
  socket.setEncoding('utf8');
  socket.write(`${JSON.stringify({ v: PROTOCOL_VERSION, argv, user: currentUser() })}\n`);
  return new Promise((resolve) => {
    let buffered = '';
    let done = false;
    const finish = (code) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(code);
    };
    socket.on('data', (chunk) => {
      buffered += chunk;
      for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
        const text = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        let message;
        try {
          message = JSON.parse(text);
        } catch {
          io.stderr('error: pvdifyd answered something that is not its protocol\nhint: run the pvdify that came with the running pvdifyd, or set PVDIFY_DIRECT=1\n');
          finish(2);
          return;
        }
        if (typeof message.progress === 'string') io.stderr(message.progress);
        else if (typeof message.exit === 'number') {
          if (message.stdout) io.stdout(message.stdout);
          if (message.stderr) io.stderr(message.stderr);
          finish(message.exit);
          return;
        }
      }
    });
    const lost = () => {
      if (done) return;
      io.stderr(
        'error: pvdifyd closed the connection before it answered; the command may still have run\n' +
          'hint: check with `pvdify releases APP` or `pvdify audit`, and `journalctl -u pvdifyd`\n',
      );
      finish(2);
    };
    socket.on('end', lost);
    socket.on('close', lost);
    socket.on('error', lost);
  });
}
