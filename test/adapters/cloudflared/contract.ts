/**
 * Contract every Edge implementation passes. The factory gives the edge plus ways to observe
 * what the real one does outside itself: how often the tunnel was restarted, and which
 * hostnames were routed in DNS.
 */
import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import type { Edge } from '../../../src/core/ports/runtime.ts';

export interface EdgeHarness {
  edge: Edge;
  restarts(): number;
  dnsRouted(): Promise<string[]>;
  close(): Promise<void>;
}

export function edgeContract(name: string, factory: () => Promise<EdgeHarness>): void {
  describe(`Edge contract: ${name}`, () => {
    let h: EdgeHarness;
    beforeEach(async () => {
      await h?.close();
      h = await factory();
    });
    after(async () => {
      await h?.close();
    });

    it('restarts the tunnel when hostnames appear, and not when nothing changed', async () => {
      const routes = [
        { hostname: 'www.example.com', bindPort: 3001 },
        { hostname: 'api.example.com', bindPort: 3000 },
      ];
      assert.deepEqual(await h.edge.apply(routes), { changed: true, restarted: true });
      assert.equal(h.restarts(), 1);
      assert.deepEqual(await h.edge.apply(routes), { changed: false, restarted: false });
      assert.deepEqual(await h.edge.apply([...routes].reverse()), { changed: false, restarted: false });
      assert.equal(h.restarts(), 1);
    });

    it('restarts when a hostname is added or removed', async () => {
      await h.edge.apply([{ hostname: 'a.example.com', bindPort: 3000 }]);
      assert.deepEqual(await h.edge.apply([{ hostname: 'a.example.com', bindPort: 3000 }, { hostname: 'b.example.com', bindPort: 3001 }]), { changed: true, restarted: true });
      assert.deepEqual(await h.edge.apply([{ hostname: 'b.example.com', bindPort: 3001 }]), { changed: true, restarted: true });
      assert.deepEqual(await h.edge.apply([]), { changed: true, restarted: true });
      assert.deepEqual(await h.edge.apply([]), { changed: false, restarted: false });
      assert.equal(h.restarts(), 4);
    });

    it('restarts when a hostname moves to another app (its router port changes)', async () => {
      await h.edge.apply([{ hostname: 'a.example.com', bindPort: 3000 }]);
      assert.deepEqual(await h.edge.apply([{ hostname: 'a.example.com', bindPort: 3005 }]), { changed: true, restarted: true });
    });

    it('needs no restart for a first config without hostnames', async () => {
      assert.deepEqual(await h.edge.apply([]), { changed: true, restarted: false });
      assert.equal(h.restarts(), 0);
    });

    it('refuses bad hostnames, duplicates and ports, naming each, and changes nothing', async () => {
      await h.edge.apply([{ hostname: 'ok.example.com', bindPort: 3000 }]);
      await assert.rejects(
        h.edge.apply([
          { hostname: 'Bad_Host.example.com', bindPort: 3000 },
          { hostname: 'dup.example.com', bindPort: 3001 },
          { hostname: 'dup.example.com', bindPort: 3002 },
          { hostname: 'port.example.com:443', bindPort: 3003 },
          { hostname: 'zero.example.com', bindPort: 0 },
        ]),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'invalid_input');
          for (const bit of ['routes[0].hostname', 'routes[2].hostname: dup.example.com', 'routes[3].hostname', 'routes[4].bindPort']) {
            assert.ok(e.message.includes(bit), `message names ${bit}: ${e.message}`);
          }
          return true;
        },
      );
      assert.equal(h.restarts(), 1);
      assert.deepEqual(await h.edge.apply([{ hostname: 'ok.example.com', bindPort: 3000 }]), { changed: false, restarted: false });
    });

    it('routes DNS for a hostname', async () => {
      const r = await h.edge.routeDns('app.example.com');
      assert.ok(r.recordId === null || typeof r.recordId === 'string');
      assert.deepEqual(await h.dnsRouted(), ['app.example.com']);
    });

    it('refuses to route DNS for something that is not a hostname', async () => {
      for (const bad of ['', '-rf', 'a b.example.com', 'example', 'x.example.com:80', 'http://x.example.com']) {
        await assert.rejects(h.edge.routeDns(bad), { code: 'invalid_input' }, bad);
      }
      assert.deepEqual(await h.dnsRouted(), []);
    });
  });
}
