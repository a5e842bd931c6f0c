import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createHttpProbe } from '../../../src/adapters/http-probe/http-probe.ts';
import { healthProbeContract } from './contract.ts';

async function serve(handler: http.RequestListener): Promise<{ port: number; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

async function closeAll(servers: http.Server[]): Promise<void> {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** A port nothing listens on: bind an ephemeral port, then release it. */
async function freePort(): Promise<number> {
  const { port, server } = await serve(() => {});
  await closeAll([server]);
  return port;
}

healthProbeContract('node:http', async () => {
  const servers: http.Server[] = [];
  const track = async (handler: http.RequestListener): Promise<number> => {
    const s = await serve(handler);
    servers.push(s.server);
    return s.port;
  };
  const healthyPort = await track((_req, res) => res.end('ok'));
  const errorPort = await track((_req, res) => {
    res.statusCode = 500;
    res.end('boom');
  });
  return {
    probe: createHttpProbe(),
    healthyPort,
    errorPort,
    refusedPort: await freePort(),
    async flakyPort(failures) {
      let seen = 0;
      return track((_req, res) => {
        seen += 1;
        res.statusCode = seen > failures ? 200 : 500;
        res.end();
      });
    },
    close: () => closeAll(servers),
  };
});

describe('http probe against real servers', () => {
  const servers: http.Server[] = [];
  const requests: http.IncomingMessage[] = [];
  const ports: Record<string, number> = {};
  const probe = createHttpProbe();

  before(async () => {
    const add = async (name: string, handler: http.RequestListener): Promise<void> => {
      const s = await serve((req, res) => {
        requests.push(req);
        handler(req, res);
      });
      servers.push(s.server);
      ports[name] = s.port;
    };
    await add('ok', (req, res) => res.end(`path=${req.url ?? ''}`));
    await add('redirect', (_req, res) => {
      res.statusCode = 302;
      res.setHeader('location', '/elsewhere');
      res.end();
    });
    await add('notFound', (_req, res) => {
      res.statusCode = 404;
      res.end();
    });
    // Headers never come: the probe's own timer must end the attempt.
    await add('slow', () => {});
    // Headers come at once but the body drips forever.
    await add('drip', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => res.write('.'), 20);
      res.on('close', () => clearInterval(t));
    });
    await add('big', (_req, res) => res.end(Buffer.alloc(2 * 1024 * 1024, 97)));
    await add('reset', (req) => req.socket.destroy());
  });

  after(() => closeAll(servers));

  it('sends GET to 127.0.0.1 with the path and without keep-alive', async () => {
    const before = requests.length;
    const r = await probe.check(ports.ok as number, '/health?full=1', 1000);
    assert.equal(r.ok, true);
    const req = requests[before];
    assert.ok(req);
    assert.equal(req.method, 'GET');
    assert.equal(req.url, '/health?full=1');
    assert.equal(req.headers.connection, 'close');
    assert.equal(req.headers.host, `127.0.0.1:${ports.ok}`);
  });

  it('treats 3xx as healthy without following it, 404 as unhealthy', async () => {
    assert.deepEqual(await probe.check(ports.redirect as number, '/health', 1000), { ok: true, status: 302, attempts: 1, error: null });
    const r = await probe.check(ports.notFound as number, '/health', 1000);
    assert.equal(r.ok, false);
    assert.equal(r.status, 404);
  });

  it('enforces the timeout when no response comes', async () => {
    const started = performance.now();
    const r = await probe.check(ports.slow as number, '/health', 200);
    const elapsed = performance.now() - started;
    assert.equal(r.ok, false);
    assert.equal(r.status, null);
    assert.match(r.error ?? '', /timed out after 200 ms/);
    assert.ok(elapsed >= 190 && elapsed < 1500, `elapsed ${elapsed}`);
  });

  it('enforces the timeout over a body that never ends', async () => {
    const r = await probe.check(ports.drip as number, '/health', 200);
    assert.equal(r.ok, false);
    assert.equal(r.status, 200);
    assert.match(r.error ?? '', /timed out/);
  });

  it('drains a large body', async () => {
    assert.equal((await probe.check(ports.big as number, '/health', 5000)).ok, true);
  });

  it('reports a reset connection', async () => {
    const r = await probe.check(ports.reset as number, '/health', 1000);
    assert.equal(r.ok, false);
    assert.equal(r.status, null);
    assert.ok(r.error);
  });

  it('aborts an attempt that is in flight', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = performance.now();
    await assert.rejects(
      probe.waitHealthy(ports.slow as number, '/health', { timeoutMs: 5000, intervalMs: 10, retries: 3, deadlineMs: 10_000, signal: ac.signal }),
      { name: 'AbortError' },
    );
    assert.ok(performance.now() - started < 1000);
  });

  it('refuses ports outside 1..65535 and absurd timeouts', async () => {
    await assert.rejects(probe.check(0, '/health', 100), { code: 'invalid_input' });
    await assert.rejects(probe.check(70000, '/health', 100), { code: 'invalid_input' });
    await assert.rejects(probe.check(ports.ok as number, '/health', 0), { code: 'invalid_input' });
    await assert.rejects(probe.check(ports.ok as number, '/he alth', 100), { code: 'invalid_input' });
  });
});
