import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeRouter } from '../../../src/adapters/caddy/fake-router.ts';
import { routerContract } from './contract.ts';

let nextPort = 20000;
routerContract('fake', async () => ({
  router: createFakeRouter(),
  freePort: async () => nextPort++,
  close: async () => {},
}));

describe('fake router', () => {
  it('records every accepted table and can fail on demand', async () => {
    const router = createFakeRouter();
    await router.apply([{ app: 'a', bindPort: 3000, upstreams: [4000], healthPath: '/health' }]);
    router.failNextApply('address already in use');
    await assert.rejects(router.apply([]), { code: 'external_tool', message: 'address already in use' });
    assert.equal(router.applied.length, 1);
    assert.deepEqual(await router.current(), [{ app: 'a', bindPort: 3000, upstreams: [4000], healthPath: '/health' }]);
    await router.apply([]);
    assert.deepEqual(router.applied, [[{ app: 'a', bindPort: 3000, upstreams: [4000], healthPath: '/health' }], []]);
  });
});
