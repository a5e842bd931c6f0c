import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFakeProbe } from '../../../src/adapters/http-probe/fake-probe.ts';
import { healthProbeContract } from './contract.ts';

healthProbeContract('fake', async () => {
  const probe = createFakeProbe();
  probe.script(4001, [200]);
  probe.script(4002, [500]);
  let next = 4100;
  return {
    probe,
    healthyPort: 4001,
    errorPort: 4002,
    refusedPort: 4003,
    async flakyPort(failures) {
      const port = next++;
      probe.script(port, [...Array<number>(failures).fill(500), 200]);
      return port;
    },
    async close() {},
  };
});

describe('fake probe', () => {
  it('records every call and check', async () => {
    const probe = createFakeProbe();
    probe.script(5000, ['timeout', 200]);
    await probe.check(5000, '/up', 100);
    await probe.waitHealthy(5000, '/up', { timeoutMs: 100, intervalMs: 1, retries: 3, deadlineMs: 1000 });
    assert.deepEqual(probe.calls, [
      { kind: 'check', port: 5000, path: '/up' },
      { kind: 'waitHealthy', port: 5000, path: '/up' },
    ]);
    assert.equal(probe.checks.get(5000), 2);
  });
});
