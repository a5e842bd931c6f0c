/**
 * A small client for Caddy's admin API over a unix socket or 127.0.0.1 (node:http, no agent).
 * Caddy answers errors as `{"error": "..."}`; that text becomes the ExternalToolError message.
 */
import http from 'node:http';
import { ExternalToolError } from '../../core/errors.ts';
import { parseAdminAddress, type AdminAddress } from './caddy-config.ts';

export interface CaddyAdminClient {
  readonly address: AdminAddress;
  /** `POST /load`: replaces the whole running config; resolves once Caddy has switched. */
  load(config: unknown): Promise<void>;
  /** `GET /config/`: the running config (null when Caddy runs with an empty config). */
  getConfig(): Promise<unknown>;
  /** `POST /stop`: asks Caddy to exit gracefully. */
  stop(): Promise<void>;
  /** True when the admin API answers at all. */
  ping(): Promise<boolean>;
}

const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export function createCaddyAdminClient(adminAddress: string, opts: { timeoutMs?: number } = {}): CaddyAdminClient {
  const address = parseAdminAddress(adminAddress);
  // Replacing a config waits for the old servers to finish in-flight requests (grace period).
  const timeoutMs = opts.timeoutMs ?? 60_000;

  function request(method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      const target =
        address.kind === 'unix'
          ? // Over a unix socket Caddy only accepts an empty Host header.
            { socketPath: address.socketPath, setHost: false, headers: { ...headers, host: '' } }
          : { host: address.host, port: address.port, headers };
      const req = http.request({ ...target, method, path, agent: false, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('admin API response too large'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'not running' : (e.code ?? e.message);
        reject(new ExternalToolError('caddy', `admin API at ${address.listen} unreachable (${why})`, 'start the router: pvdifyd router start'));
      });
      req.end(body);
    });
  }

  function failure(method: string, path: string, status: number, text: string): ExternalToolError {
    let message = text.trim();
    try {
      const parsed = JSON.parse(text) as { error?: unknown };
      if (typeof parsed.error === 'string') message = parsed.error;
    } catch {
      // not JSON: keep the raw text
    }
    return new ExternalToolError('caddy', `admin API ${method} ${path} failed (HTTP ${status}): ${message.slice(0, 1000)}`);
  }

  return {
    address,
    async load(config) {
      const res = await request('POST', '/load', JSON.stringify(config));
      if (res.status !== 200) throw failure('POST', '/load', res.status, res.text);
    },
    async getConfig() {
      const res = await request('GET', '/config/');
      if (res.status !== 200) throw failure('GET', '/config/', res.status, res.text);
      try {
        return JSON.parse(res.text) as unknown;
      } catch {
        throw new ExternalToolError('caddy', 'admin API GET /config/ returned something that is not JSON');
      }
    },
    async stop() {
      const res = await request('POST', '/stop');
      if (res.status !== 200) throw failure('POST', '/stop', res.status, res.text);
    },
    async ping() {
      try {
        const res = await request('GET', '/config/');
        return res.status === 200;
      } catch {
        return false;
      }
    },
  };
}
