/**
 * HTTP health probe against 127.0.0.1: one GET per check, a fresh connection each time (a pooled
 * keep-alive socket would hide an instance that stopped accepting connections), the body drained
 * so the instance never sees a half-read response, and a hard timeout over the whole exchange.
 */
import http from 'node:http';
import { InvalidInputError } from '../../core/errors.ts';
import type { HealthProbe, ProbeResult } from '../../core/ports/runtime.ts';

/** Options of `waitHealthy`; `startPeriodMs` is an extension of the port (see README). */
export interface WaitHealthyOptions {
  /** Timeout of each single check. */
  timeoutMs: number;
  /** Pause between the end of one check and the start of the next. */
  intervalMs: number;
  /** Give up after this many consecutive failures (failures inside `startPeriodMs` do not count). */
  retries: number;
  /** Overall budget from the first attempt; no attempt starts after it. */
  deadlineMs: number;
  signal?: AbortSignal;
  /** Grace period for slow starters, as Docker's `--health-start-period`. Default 0. */
  startPeriodMs?: number;
}

const MAX_TIMEOUT_MS = 10 * 60_000;

function assertProbeTarget(port: number, path: string, timeoutMs: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidInputError(`health probe port must be an integer in 1..65535, got ${String(port)}`);
  }
  if (!/^\/[\x21-\x7e]{0,2047}$/.test(path)) {
    throw new InvalidInputError('health paths start with / and are printable ASCII');
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new InvalidInputError(`health probe timeout must be in 1..${MAX_TIMEOUT_MS} ms`);
  }
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/** One GET; never rejects except on abort. */
function probeOnce(port: number, path: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    let settled = false;
    let status: number | null = null;
    const finish = (result: { ok: boolean; error: string | null }, abortReason?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      if (abortReason !== undefined) reject(abortReason);
      else resolve({ ok: result.ok, status, attempts: 1, error: result.error });
    };
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      method: 'GET',
      agent: false,
      headers: { connection: 'close', 'user-agent': 'pvdify-health-probe/1', accept: '*/*' },
    });
    // The socket timeout alone would let a server dripping bytes hold the probe forever.
    const timer = setTimeout(() => finish({ ok: false, error: `timed out after ${timeoutMs} ms` }), timeoutMs);
    const onAbort = (): void => finish({ ok: false, error: 'aborted' }, abortError(signal as AbortSignal));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('response', (res) => {
      status = res.statusCode ?? null;
      res.on('error', (e: Error) => finish({ ok: false, error: `response error: ${e.message}` }));
      res.on('close', () => {
        if (!res.complete) finish({ ok: false, error: 'connection closed before the response ended' });
      });
      res.on('end', () => {
        const ok = status !== null && status >= 200 && status < 400;
        finish({ ok, error: ok ? null : `HTTP ${String(status)}` });
      });
      res.resume();
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      finish({ ok: false, error: e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? e.message });
    });
    req.end();
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Polls `check` until it succeeds, `retries` consecutive failures happened after the start
 * period, or the deadline passes. Rejects with the signal's reason (an AbortError) when aborted.
 * Shared by the real probe and the fake so both give up under the same rules.
 */
export async function pollUntilHealthy(
  check: (timeoutMs: number, signal?: AbortSignal) => Promise<ProbeResult>,
  opts: WaitHealthyOptions,
  now: () => number = () => performance.now(),
): Promise<ProbeResult> {
  if (!Number.isInteger(opts.retries) || opts.retries < 1) throw new InvalidInputError('retries must be a positive integer');
  if (!(opts.intervalMs >= 0) || !(opts.deadlineMs > 0)) throw new InvalidInputError('intervalMs must be >= 0 and deadlineMs > 0');
  const started = now();
  const startPeriodMs = opts.startPeriodMs ?? 0;
  let attempts = 0;
  let consecutive = 0;
  let last: ProbeResult = { ok: false, status: null, attempts: 0, error: 'no attempt made' };
  for (;;) {
    const remaining = opts.deadlineMs - (now() - started);
    if (remaining <= 0) {
      return { ...last, ok: false, attempts, error: `not healthy within ${opts.deadlineMs} ms (last: ${last.error ?? 'none'})` };
    }
    attempts += 1;
    last = await check(Math.max(1, Math.min(opts.timeoutMs, remaining)), opts.signal);
    if (last.ok) return { ...last, attempts };
    if (now() - started >= startPeriodMs) consecutive += 1;
    if (consecutive >= opts.retries) {
      return { ...last, attempts, error: `${last.error ?? 'unhealthy'} (${consecutive} consecutive failures)` };
    }
    const left = opts.deadlineMs - (now() - started);
    if (left <= 0) continue;
    await sleep(Math.min(opts.intervalMs, left), opts.signal);
  }
}

/** The HealthProbe port over node:http. */
export function createHttpProbe(): HealthProbe & {
  waitHealthy(port: number, path: string, opts: WaitHealthyOptions): Promise<ProbeResult>;
} {
  return {
    async check(port, path, timeoutMs) {
      assertProbeTarget(port, path, timeoutMs);
      return probeOnce(port, path, timeoutMs);
    },
    async waitHealthy(port, path, opts) {
      assertProbeTarget(port, path, opts.timeoutMs);
      return pollUntilHealthy((t, signal) => probeOnce(port, path, t, signal), opts);
    },
  };
}
