/**
 * Contract every HealthProbe implementation passes. The factory builds the probe plus targets:
 * a port answering 200, one answering 500, one refusing connections, and ports that fail a
 * given number of times before they answer 200.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ProbeResult } from '../../../src/core/ports/runtime.ts';
import type { WaitHealthyOptions } from '../../../src/adapters/http-probe/http-probe.ts';

export interface ProbeHarness {
  probe: {
    check(port: number, path: string, timeoutMs: number): Promise<ProbeResult>;
    waitHealthy(port: number, path: string, opts: WaitHealthyOptions): Promise<ProbeResult>;
  };
  healthyPort: number;
  errorPort: number;
  refusedPort: number;
  /** A port that fails `failures` checks (500) and then answers 200. */
  flakyPort(failures: number): Promise<number>;
  close(): Promise<void>;
}

export function healthProbeContract(name: string, factory: () => Promise<ProbeHarness>): void {
  describe(`HealthProbe contract: ${name}`, () => {
    let h: ProbeHarness;
    before(async () => {
      h = await factory();
    });
    after(async () => {
      await h?.close();
    });

    it('reports a 200 as healthy', async () => {
      const r = await h.probe.check(h.healthyPort, '/health', 2000);
      assert.deepEqual(r, { ok: true, status: 200, attempts: 1, error: null });
    });

    it('reports a 500 as unhealthy with its status', async () => {
      const r = await h.probe.check(h.errorPort, '/health', 2000);
      assert.equal(r.ok, false);
      assert.equal(r.status, 500);
      assert.match(r.error ?? '', /500/);
    });

    it('reports a refused connection without a status', async () => {
      const r = await h.probe.check(h.refusedPort, '/health', 2000);
      assert.equal(r.ok, false);
      assert.equal(r.status, null);
      assert.match(r.error ?? '', /refused/);
    });

    it('refuses a path that does not start with /', async () => {
      await assert.rejects(h.probe.check(h.healthyPort, 'health', 1000), { code: 'invalid_input' });
    });

    it('waits until a port becomes healthy and counts the attempts', async () => {
      const port = await h.flakyPort(3);
      const r = await h.probe.waitHealthy(port, '/health', { timeoutMs: 1000, intervalMs: 10, retries: 5, deadlineMs: 5000 });
      assert.equal(r.ok, true);
      assert.equal(r.status, 200);
      assert.equal(r.attempts, 4);
    });

    it('gives up after `retries` consecutive failures', async () => {
      const r = await h.probe.waitHealthy(h.errorPort, '/health', { timeoutMs: 1000, intervalMs: 10, retries: 3, deadlineMs: 5000 });
      assert.equal(r.ok, false);
      assert.equal(r.attempts, 3);
      assert.equal(r.status, 500);
      assert.match(r.error ?? '', /3 consecutive failures/);
    });

    it('does not count failures inside the start period', async () => {
      const started = performance.now();
      const r = await h.probe.waitHealthy(h.refusedPort, '/health', {
        timeoutMs: 500, intervalMs: 20, retries: 2, deadlineMs: 5000, startPeriodMs: 200,
      });
      assert.equal(r.ok, false);
      assert.ok(performance.now() - started >= 200, 'kept trying through the start period');
      assert.ok(r.attempts > 2, `attempts ${r.attempts} include the uncounted ones`);
    });

    it('stops at the deadline', async () => {
      const started = performance.now();
      const r = await h.probe.waitHealthy(h.refusedPort, '/health', { timeoutMs: 500, intervalMs: 30, retries: 1000, deadlineMs: 250 });
      const elapsed = performance.now() - started;
      assert.equal(r.ok, false);
      assert.match(r.error ?? '', /not healthy within 250 ms/);
      assert.ok(elapsed >= 240 && elapsed < 2000, `elapsed ${elapsed}`);
    });

    it('rejects with an AbortError when aborted', async () => {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const started = performance.now();
      await assert.rejects(
        h.probe.waitHealthy(h.refusedPort, '/health', { timeoutMs: 500, intervalMs: 20, retries: 1000, deadlineMs: 10_000, signal: ac.signal }),
        { name: 'AbortError' },
      );
      assert.ok(performance.now() - started < 2000);
    });

    it('rejects at once when the signal is already aborted', async () => {
      await assert.rejects(
        h.probe.waitHealthy(h.healthyPort, '/health', { timeoutMs: 500, intervalMs: 20, retries: 3, deadlineMs: 1000, signal: AbortSignal.abort() }),
        { name: 'AbortError' },
      );
    });
  });
}
