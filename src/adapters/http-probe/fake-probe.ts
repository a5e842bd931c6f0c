/**
 * In-memory HealthProbe for tests of the rollout engine: each port answers from a script, and
 * every call is recorded. `waitHealthy` gives up under the same rules as the real probe.
 */
import { InvalidInputError } from '../../core/errors.ts';
import type { HealthProbe, ProbeResult } from '../../core/ports/runtime.ts';
import { pollUntilHealthy, type WaitHealthyOptions } from './http-probe.ts';

/** What one check of a scripted port answers: an HTTP status, or a connection failure. */
export type FakeProbeAnswer = number | 'refused' | 'timeout';

export interface FakeProbeCall {
  kind: 'check' | 'waitHealthy';
  port: number;
  path: string;
}

export interface FakeProbe extends HealthProbe {
  waitHealthy(port: number, path: string, opts: WaitHealthyOptions): Promise<ProbeResult>;
  /** Answers for `port`, one per check; the last one repeats. Unscripted ports refuse. */
  script(port: number, answers: FakeProbeAnswer[]): void;
  readonly calls: FakeProbeCall[];
  /** Number of single checks made against each port (a waitHealthy makes several). */
  readonly checks: Map<number, number>;
}

export function createFakeProbe(): FakeProbe {
  const scripts = new Map<number, FakeProbeAnswer[]>();
  const calls: FakeProbeCall[] = [];
  const checks = new Map<number, number>();

  const answer = (port: number, path: string): ProbeResult => {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidInputError(`health probe port must be an integer in 1..65535, got ${String(port)}`);
    if (!path.startsWith('/')) throw new InvalidInputError('health paths start with /');
    const queue = scripts.get(port) ?? ['refused'];
    const next = queue.length > 1 ? (queue.shift() as FakeProbeAnswer) : (queue[0] ?? 'refused');
    checks.set(port, (checks.get(port) ?? 0) + 1);
    if (next === 'refused') return { ok: false, status: null, attempts: 1, error: 'connection refused' };
    if (next === 'timeout') return { ok: false, status: null, attempts: 1, error: 'timed out' };
    const ok = next >= 200 && next < 400;
    return { ok, status: next, attempts: 1, error: ok ? null : `HTTP ${next}` };
  };

  return {
    calls,
    checks,
    script(port, answers) {
      if (answers.length === 0) throw new InvalidInputError('a probe script needs at least one answer');
      scripts.set(port, [...answers]);
    },
    async check(port, path, _timeoutMs) {
      calls.push({ kind: 'check', port, path });
      return answer(port, path);
    },
    async waitHealthy(port, path, opts) {
      calls.push({ kind: 'waitHealthy', port, path });
      return pollUntilHealthy(async (_t, signal) => {
        if (signal?.aborted) throw signal.reason;
        return answer(port, path);
      }, opts);
    },
  };
}
