import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enableListenerHandover, listenerHandoverState } from '../../../src/adapters/host/listener-handover.ts';
import type { Logger } from '../../../src/core/ports/clock.ts';

function recordingLogger(lines: { level: string; msg: string; obj: Record<string, unknown> }[]): Logger {
  const at = (level: string) => (obj: unknown, msg?: string) => {
    lines.push({ level, msg: typeof obj === 'string' ? obj : (msg ?? ''), obj: typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>) : {} });
  };
  const log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log } as unknown as Logger;
  return log;
}

describe('net.ipv4.tcp_migrate_req', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pvd-handover-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('turns the setting on when it is off, and leaves it alone when on', async () => {
    const file = join(dir, 'on-off');
    await writeFile(file, '0\n');
    const lines: Parameters<typeof recordingLogger>[0] = [];
    assert.equal(await listenerHandoverState(file), 'off');
    assert.equal(await enableListenerHandover(recordingLogger(lines), file), 'enabled');
    assert.equal((await readFile(file, 'utf8')).trim(), '1');
    assert.equal(await enableListenerHandover(recordingLogger(lines), file), 'on');
    assert.deepEqual(lines.map((l) => l.level), ['info']);
  });

  it('says what to do when it may not write it', async () => {
    // Read-only for root too (root may write a chmod 0444 file in /tmp).
    const file = '/proc/version';
    const lines: Parameters<typeof recordingLogger>[0] = [];
    assert.equal(await enableListenerHandover(recordingLogger(lines), file), 'denied');
    assert.equal(lines[0]?.level, 'warn');
    assert.match(String(lines[0]?.obj.fix), /sysctl -w net\.ipv4\.tcp_migrate_req=1/);
  });

  it('reports a kernel without the setting', async () => {
    const lines: Parameters<typeof recordingLogger>[0] = [];
    assert.equal(await enableListenerHandover(recordingLogger(lines), join(dir, 'missing')), 'unsupported');
    assert.match(lines[0]?.msg ?? '', /Linux 5\.14/);
  });
});
