/**
 * One HTTP request to a local control API — Caddy's admin API, Podman's REST service — over a
 * unix socket or loopback: node:http, no agent (a fresh connection each time, so one the server
 * dropped is never reused), the whole answer buffered up to a cap, one deadline for all of it.
 * Transport failures reject with Node's error (its `code`: ENOENT, ECONNREFUSED, …, or
 * ETIMEDOUT at the deadline); what they mean to a user is the caller's to say.
 */
import http from 'node:http';

export type LocalTarget = { socketPath: string } | { host: string; port: number };

export interface LocalRequest {
  target: LocalTarget;
  method: string;
  path: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  timeoutMs: number;
  maxResponseBytes: number;
}

export interface LocalAnswer {
  status: number;
  body: string;
}

export function localRequest(r: LocalRequest): Promise<LocalAnswer> {
  const headers: Record<string, string> = { ...r.headers };
  if (r.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(r.body));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, answer?: LocalAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(answer as LocalAnswer);
    };
    // A `host` header given by the caller is sent as it is (Caddy wants an empty one on its socket).
    const setHost = !Object.hasOwn(headers, 'host');
    const req = http.request({ ...r.target, setHost, method: r.method, path: r.path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > r.maxResponseBytes) req.destroy(Object.assign(new Error(`answer larger than ${r.maxResponseBytes} bytes`), { code: 'ETOOLARGE' }));
        else chunks.push(chunk);
      });
      res.on('end', () => finish(null, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => finish(e));
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${r.timeoutMs} ms`), { code: 'ETIMEDOUT' })), r.timeoutMs);
    req.on('error', (e) => finish(e));
    req.end(r.body);
  });
}
