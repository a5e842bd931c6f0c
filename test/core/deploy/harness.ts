/**
 * The rollout engine wired to fakes that behave like the real thing where it matters: the fake
 * supervisor serves real HTTP on each web instance's port and the real HTTP probe checks it; the
 * store is the real one in a temp dir; the vault is real age.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRolloutEngine, type RolloutEngine, type RolloutTiming } from '../../../src/core/deploy/rollout-engine.ts';
import type { Actor } from '../../../src/core/model.ts';
import { silentLogger, systemClock } from '../../../src/core/ports/clock.ts';
import type { Edge, EdgeRoute, HealthProbe, Snapshotter } from '../../../src/core/ports/runtime.ts';
import type { StateStore } from '../../../src/core/ports/store.ts';
import { createServices } from '../../../src/core/services/create-services.ts';
import type { Services } from '../../../src/core/services/types.ts';
import { createFakeRouter, type FakeRouter } from '../../../src/adapters/caddy/fake-router.ts';
import { createHttpProbe } from '../../../src/adapters/http-probe/http-probe.ts';
import { FakeImages } from '../../../src/adapters/podman/fake-images.ts';
import { FakeSupervisor } from '../../../src/adapters/podman/fake-supervisor.ts';
import { createAgeVault } from '../../../src/store/sops/age-vault.ts';
import { generateAgeIdentity } from '../../../src/store/sops/age-keys.ts';
import { renderEnvFile } from '../../../src/store/sops/env-file.ts';
import { openStateStore } from '../../../src/store/state-store.ts';

export const alice: Actor = { id: 'cli:alice', name: 'alice', source: 'cli', terminal: true };

export interface RecordingEdge extends Edge {
  applied: EdgeRoute[][];
  dns: string[];
}

export function recordingEdge(): RecordingEdge {
  const applied: EdgeRoute[][] = [];
  const dns: string[] = [];
  return {
    applied,
    dns,
    async apply(routes) {
      const prev = applied.at(-1)?.map((r) => r.hostname).sort().join(',') ?? '';
      applied.push(routes.map((r) => ({ ...r })));
      const changed = prev !== routes.map((r) => r.hostname).sort().join(',');
      return { changed, restarted: changed };
    },
    async routeDns(hostname) {
      dns.push(hostname);
      return { recordId: `rec-${hostname}` };
    },
  };
}

export interface Harness {
  root: string;
  store: StateStore;
  engine: RolloutEngine;
  services: Services;
  supervisor: FakeSupervisor;
  images: FakeImages;
  router: FakeRouter;
  edge: RecordingEdge;
  snapshots: string[];
  close(): Promise<void>;
}

export interface HarnessOptions {
  healthDeadlineMs?: number;
  routerKind?: 'caddy' | 'none';
  /** Default: the real HTTP probe against instances the fake supervisor serves over HTTP. */
  probe?: HealthProbe;
  /** Replaces the engine's pauses (a recording sleep). */
  sleep?: (ms: number) => Promise<void>;
  timing?: Partial<RolloutTiming>;
}

export async function createHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), 'pvdify-engine-'));
  const store = openStateStore({ root, clock: systemClock, log: silentLogger });
  const { identity, recipient } = await generateAgeIdentity();
  const vault = createAgeVault({ identities: [identity], recipients: [recipient] });
  // With a scripted probe nothing needs to answer HTTP.
  const supervisor = new FakeSupervisor({ serveHttp: opts.probe === undefined });
  const images = new FakeImages();
  const fake = createFakeRouter();
  // Router "none": the same recorder, but the engine sees a router that cannot hold traffic.
  const router: FakeRouter = opts.routerKind === 'none' ? { ...fake, kind: 'none' } : fake;
  const edge = recordingEdge();
  const snapshots: string[] = [];
  const snapshotter: Snapshotter = {
    async create(reason) {
      snapshots.push(reason);
      return `/snapshots/${snapshots.length}`;
    },
  };
  const engine = createRolloutEngine({
    store,
    vault,
    clock: systemClock,
    log: silentLogger,
    supervisor,
    images,
    router,
    edge,
    probe: opts.probe ?? createHttpProbe(),
    snapshots: snapshotter,
    renderEnvFile,
    timing: { healthDeadlineMs: opts.healthDeadlineMs ?? 3_000, healthIntervalMs: 20, drainMs: 10, workerSettleMs: 10, ...opts.timing },
    ...(opts.sleep ? { sleep: opts.sleep } : {}),
  });
  const services = createServices({ store, vault, clock: systemClock, log: silentLogger, engine });
  return {
    root,
    store,
    engine,
    services,
    supervisor,
    images,
    router,
    edge,
    snapshots,
    async close() {
      await supervisor.close();
      store.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** GET 127.0.0.1:port/path → status and body. */
export async function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** The web upstreams the router was last told for an app. */
export function upstreamsOf(router: FakeRouter, app: string): number[] {
  return router.applied.at(-1)?.find((r) => r.app === app)?.upstreams ?? [];
}
