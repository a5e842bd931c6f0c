import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { listeningTcpPorts, parseProcNetTcp } from '../../../src/adapters/host/listening-ports.ts';
import { silentLogger, systemClock } from '../../../src/core/ports/clock.ts';
import { openStateStore } from '../../../src/store/state-store.ts';

describe('listening ports', () => {
  it('parses LISTEN sockets from /proc/net/tcp text and ignores other states', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
      '   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
      '',
    ].join('\n');
    assert.deepEqual([...parseProcNetTcp(text)], [3000]);
  });

  it('sees a port a real server listens on', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      assert.ok(listeningTcpPorts().has(port));
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('keeps the store from allocating a bind_port something else listens on', () => {
    const root = mkdtempSync(join(tmpdir(), 'pvdify-ports-'));
    const store = openStateStore({ root, clock: systemClock, log: silentLogger });
    try {
      assert.equal(store.createApp({ name: 'one', environment: 'production', avoidPorts: new Set([3000, 3002]) }).bind_port, 3001);
      assert.equal(store.createApp({ name: 'two', environment: 'production', avoidPorts: new Set([3000, 3002]) }).bind_port, 3003);
      assert.equal(store.createApp({ name: 'three', environment: 'production' }).bind_port, 3000);
    } finally {
      store.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
