/** Helpers for the live Caddy tests: temp state dirs, tiny upstreams, plain GETs. */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CADDY_PATH = process.env.PVDIFY_CADDY_PATH ?? '/usr/bin/caddy';
/** Shown as the skip reason (counted by the runner) on a machine without Caddy. */
export const caddyMissing: string | false = existsSync(CADDY_PATH) ? false : `caddy not found at ${CADDY_PATH}`;

export async function tempStateDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  // Short path: the admin unix socket lives inside it and sun_path is 108 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'pvd-caddy-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export { freePort } from '../../support/podman/ports.ts';

/** An upstream instance: answers its name, 200 on /health, optionally after a delay. */
export interface Upstream {
  name: string;
  port: number;
  /** Requests other than /health answered, with when they started and finished. */
  served: { start: number; end: number }[];
  /** Graceful: refuses new connections, lets in-flight requests finish. */
  stop(): Promise<void>;
}

export async function startUpstream(name: string, delayMs = 0, onRequest?: () => void): Promise<Upstream> {
  const served: Upstream['served'] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      res.end('ok');
      return;
    }
    const start = performance.now();
    onRequest?.();
    const reply = (): void => {
      res.setHeader('content-type', 'text/plain');
      res.end(name);
      served.push({ start, end: performance.now() });
    };
    if (delayMs > 0) setTimeout(reply, delayMs);
    else reply();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let stopped = false;
  return {
    name,
    port: (server.address() as AddressInfo).port,
    served,
    async stop() {
      if (stopped) return;
      stopped = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // As an app's SIGTERM handler would: keep closing connections as they fall idle (the
      // router keeps pooled ones open), and cut what is left after a bound.
      const sweep = setInterval(() => server.closeIdleConnections(), 20);
      const cut = setTimeout(() => server.closeAllConnections(), 5000);
      server.closeIdleConnections();
      await closed;
      clearInterval(sweep);
      clearTimeout(cut);
    },
  };
}

export interface GetResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** Why a GET failed, and whether it went out on a kept-alive socket before any answer came. */
export class GetError extends Error {
  constructor(message: string, readonly reusedSocket: boolean) {
    super(message);
  }
}

export function get(port: number, path = '/', agent: http.Agent | false = false, timeoutMs = 10_000): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => reject(new GetError(e.message, req.reusedSocket)));
  });
}

/**
 * A GET as an HTTP/1.1 client with a connection pool makes it (Go's transport in cloudflared,
 * browsers, RFC 9112 §9.3.1): a request sent on a pooled connection that the server closed as
 * idle at the same moment is sent once more on a fresh connection. Node's agent leaves that to
 * the caller (see `request.reusedSocket` in Node's docs). Only that case is retried.
 */
export async function getLikeAProxy(port: number, path: string, agent: http.Agent, onRetry: () => void): Promise<GetResult> {
  try {
    return await get(port, path, agent);
  } catch (e) {
    if (!(e instanceof GetError) || !e.reusedSocket || !/ECONNRESET|socket hang up|EPIPE/.test(e.message)) throw e;
    onRetry();
    return get(port, path, false);
  }
}
