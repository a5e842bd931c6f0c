/**
 * Contract every Router implementation passes. The factory gives a router, a source of free
 * 127.0.0.1 ports (a real router binds its bind ports) and a cleanup.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RouteSpec, Router } from '../../../src/core/ports/runtime.ts';

export interface RouterHarness {
  router: Router;
  freePort(): Promise<number>;
  close(): Promise<void>;
}

export function routerContract(name: string, factory: () => Promise<RouterHarness>): void {
  describe(`Router contract: ${name}`, () => {
    let h: RouterHarness;
    let ports: number[];
    before(async () => {
      h = await factory();
      ports = [];
      for (let i = 0; i < 8; i++) ports.push(await h.freePort());
    });
    after(async () => {
      await h?.close();
    });
    const port = (i: number): number => ports[i] as number;

    it('is a caddy router', () => {
      assert.equal(h.router.kind, 'caddy');
    });

    it('reports what it was given, sorted by app, upstream order kept', async () => {
      const table: RouteSpec[] = [
        { app: 'web-b', bindPort: port(0), upstreams: [port(4), port(3)], healthPath: '/healthz' },
        { app: 'app-a', bindPort: port(1), upstreams: [port(5)], healthPath: '/health' },
        { app: 'idle', bindPort: port(2), upstreams: [], healthPath: '/up?full=1' },
      ];
      await h.router.apply(table);
      assert.deepEqual(await h.router.current(), [table[1], table[2], table[0]]);
    });

    it('replaces the whole table on each apply', async () => {
      await h.router.apply([
        { app: 'one', bindPort: port(0), upstreams: [port(4)], healthPath: '/health' },
        { app: 'two', bindPort: port(1), upstreams: [port(5)], healthPath: '/health' },
      ]);
      await h.router.apply([{ app: 'two', bindPort: port(1), upstreams: [port(6), port(7)], healthPath: '/health' }]);
      assert.deepEqual(await h.router.current(), [{ app: 'two', bindPort: port(1), upstreams: [port(6), port(7)], healthPath: '/health' }]);
      await h.router.apply([]);
      assert.deepEqual(await h.router.current(), []);
    });

    it('refuses an invalid table, naming every problem, and keeps the current one', async () => {
      const good: RouteSpec[] = [{ app: 'keep', bindPort: port(0), upstreams: [port(4)], healthPath: '/health' }];
      await h.router.apply(good);
      await assert.rejects(
        h.router.apply([
          { app: 'Bad_Name', bindPort: port(1), upstreams: [port(4)], healthPath: '/health' },
          { app: 'dup-port', bindPort: port(1), upstreams: [port(1)], healthPath: 'health' },
          { app: 'dup-port', bindPort: 70000, upstreams: [port(5), port(5)], healthPath: '/health' },
        ]),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'invalid_input');
          for (const bit of ['routes[0].app', 'routes[1].bindPort', 'routes[1].healthPath', 'routes[2].app', 'routes[2].bindPort', 'routes[2].upstreams', 'router port of']) {
            assert.ok(e.message.includes(bit), `message names ${bit}: ${e.message}`);
          }
          return true;
        },
      );
      assert.deepEqual(await h.router.current(), good);
    });

    it('does not share state with the caller', async () => {
      const table: RouteSpec[] = [{ app: 'mut', bindPort: port(0), upstreams: [port(4)], healthPath: '/health' }];
      await h.router.apply(table);
      (table[0] as RouteSpec).upstreams.push(port(5));
      const now = await h.router.current();
      assert.deepEqual(now[0]?.upstreams, [port(4)]);
      (now[0] as RouteSpec).upstreams.push(port(6));
      assert.deepEqual((await h.router.current())[0]?.upstreams, [port(4)]);
    });
  });
}
