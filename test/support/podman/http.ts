/** Small HTTP helpers for live tests against 127.0.0.1. */
import { setTimeout as sleep } from 'node:timers/promises';

export interface HttpAnswer {
  status: number;
  body: string;
}

/** GET with a short timeout; status 0 when nothing answered. */
export async function get(port: number, path: string, timeoutMs = 2000): Promise<HttpAnswer> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: r.status, body: await r.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

/** Polls until GET answers `status`; returns the last answer either way. */
export async function waitForStatus(port: number, path: string, status: number, timeoutMs = 10_000): Promise<HttpAnswer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await get(port, path);
    if (answer.status === status || Date.now() > deadline) return answer;
    await sleep(50);
  }
}

/** Polls `check` until it returns a value that `done` accepts, or the time is up. */
export async function eventually<T>(check: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (done(v) || Date.now() > deadline) return v;
    await sleep(50);
  }
}
