import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeEdge } from '../../../src/adapters/cloudflared/fake-edge.ts';
import { edgeContract } from './contract.ts';

edgeContract('fake', async () => {
  const edge = createFakeEdge();
  return { edge, restarts: () => edge.restarts, dnsRouted: async () => [...edge.dnsRoutes], close: async () => {} };
});

describe('fake edge', () => {
  it('keeps the rendered config, records tables and can fail DNS once', async () => {
    const edge = createFakeEdge({ recordIds: true });
    await edge.apply([{ hostname: 'a.example.com', bindPort: 3000 }]);
    assert.match(edge.configText ?? '', /hostname: a\.example\.com\n\s+service: http:\/\/127\.0\.0\.1:3000/);
    assert.deepEqual(edge.applied, [[{ hostname: 'a.example.com', bindPort: 3000 }]]);
    edge.failDns('a.example.com');
    await assert.rejects(edge.routeDns('a.example.com'), { code: 'external_tool', message: /already exists/ });
    assert.deepEqual(await edge.routeDns('a.example.com'), { recordId: 'fake-record-1' });
  });
});
