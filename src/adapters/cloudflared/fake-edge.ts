/**
 * In-memory Edge for tests of the domain service: renders and validates like the real one, keeps
 * the "file" in memory, restarts under the same rule, and records everything.
 */
import { ExternalToolError, InvalidInputError } from '../../core/errors.ts';
import { DOMAIN_RE } from '../../core/names.ts';
import type { Edge, EdgeRoute } from '../../core/ports/runtime.ts';
import { planEdgeApply, renderTunnelConfig } from './tunnel-config.ts';

export interface FakeEdge extends Edge {
  /** Every applied routing table, as given. */
  readonly applied: EdgeRoute[][];
  /** Hostnames passed to routeDns, in order. */
  readonly dnsRoutes: string[];
  /** How many times the tunnel was restarted. */
  restarts: number;
  /** The tunnel config as it would be on disk (null before the first apply). */
  readonly configText: string | null;
  /** The next routeDns of `hostname` fails like cloudflared does when a record exists. */
  failDns(hostname: string): void;
}

export function createFakeEdge(opts: { tunnel?: string; credentialsFile?: string; recordIds?: boolean } = {}): FakeEdge {
  const tunnel = opts.tunnel ?? 'pvdify-apps';
  const credentialsFile = opts.credentialsFile ?? '/etc/cloudflared/pvdify-apps.json';
  const failing = new Set<string>();
  let text: string | null = null;
  let serial = 0;
  const fake: FakeEdge = {
    applied: [],
    dnsRoutes: [],
    restarts: 0,
    get configText() {
      return text;
    },
    failDns(hostname) {
      failing.add(hostname);
    },
    async apply(routes) {
      const next = renderTunnelConfig(routes, { tunnel, credentialsFile });
      fake.applied.push(routes.map((r) => ({ ...r })));
      const plan = planEdgeApply(text, next);
      if (!plan.write) return { changed: false, restarted: false };
      text = next;
      if (plan.restart) fake.restarts += 1;
      return { changed: true, restarted: plan.restart };
    },
    async routeDns(hostname) {
      if (typeof hostname !== 'string' || !DOMAIN_RE.test(hostname)) throw new InvalidInputError(`not a hostname cloudflared can route: ${JSON.stringify(hostname)}`);
      fake.dnsRoutes.push(hostname);
      if (failing.delete(hostname)) {
        throw new ExternalToolError('cloudflared', `cloudflared could not route ${hostname}: An A, AAAA, or CNAME record with that host already exists.`);
      }
      return { recordId: opts.recordIds ? `fake-record-${++serial}` : null };
    },
  };
  return fake;
}
