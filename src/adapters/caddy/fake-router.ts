/**
 * In-memory Router for tests of the rollout engine: validates like the real one, records every
 * table it was given, and can be told to fail the next apply.
 */
import { ExternalToolError } from '../../core/errors.ts';
import type { RouteSpec, Router } from '../../core/ports/runtime.ts';
import { validateRoutes } from './caddy-config.ts';

export interface FakeRouter extends Router {
  /** Every accepted table, in order (sorted by app, as applied). */
  readonly applied: RouteSpec[][];
  /** The next apply throws this ExternalToolError message and changes nothing. */
  failNextApply(message: string): void;
}

export function createFakeRouter(initial: RouteSpec[] = []): FakeRouter {
  let table = validateRoutes(initial);
  let failure: string | null = null;
  const applied: RouteSpec[][] = [];
  const copy = (rs: RouteSpec[]): RouteSpec[] => rs.map((r) => ({ ...r, upstreams: [...r.upstreams] }));
  return {
    kind: 'caddy',
    applied,
    failNextApply(message) {
      failure = message;
    },
    async apply(routes) {
      const next = validateRoutes(routes);
      if (failure !== null) {
        const message = failure;
        failure = null;
        throw new ExternalToolError('caddy', message);
      }
      table = next;
      applied.push(copy(next));
    },
    async current() {
      return copy(table);
    },
  };
}
