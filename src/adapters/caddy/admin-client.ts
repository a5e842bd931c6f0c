/**
 * A small client for Caddy's admin API over a unix socket or 127.0.0.1 (`localRequest`).
 * Caddy answers errors as `{"error": "..."}`; that text becomes the ExternalToolError message.
 */
import { ExternalToolError } from '../../core/errors.ts';
import { parseAdminAddress, type AdminAddress } from './caddy-config.ts';
import { localRequest } from '../local-http.ts';

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

  async function request(method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; text: string }> {
    try {
      const answer = await localRequest({
        target: address.kind === 'unix' ? { socketPath: address.socketPath } : { host: address.host, port: address.port },
        method,
        path,
        body,
        // Over a unix socket Caddy only accepts an empty Host header.
        headers: address.kind === 'unix' ? { accept: 'application/json', host: '' } : { accept: 'application/json' },
        timeoutMs,
        maxResponseBytes: MAX_RESPONSE_BYTES,
      });
      return { status: answer.status, text: answer.body };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'not running' : err.code === 'ETIMEDOUT' || err.code === 'ETOOLARGE' ? err.message : (err.code ?? err.message);
      throw new ExternalToolError('caddy', `admin API at ${address.listen} unreachable (${why})`, 'start the router: pvdifyd router start');
    }
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
