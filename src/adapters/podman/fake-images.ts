/**
 * In-memory ImageRuntime for tests of the layers above: records every call, keeps a simulated
 * image store, and fails pulls of chosen images the way the real one does.
 */
import { ExternalToolError } from '../../core/errors.ts';
import { systemClock, type Clock } from '../../core/ports/clock.ts';
import type { ImageInfo, ImageRuntime, PruneResult, RegistryAuth } from '../../core/ports/runtime.ts';
import { assertImageRef } from './instance-spec.ts';
import { pruneCutoff } from './podman-images.ts';

/** One recorded call. Registry auth is recorded as the username only. */
export type FakeImagesCall =
  | { method: 'pull'; image: string; always: boolean; authUser: string | null }
  | { method: 'exists'; image: string }
  | { method: 'list' }
  | { method: 'prune'; until: string; keep: string[] };

export interface FakeImagesOptions {
  clock?: Clock;
  /** Images that containers use (e.g. `() => fakeSupervisor.imagesInUse()`); never pruned. */
  inUse?: () => Iterable<string>;
  /** Size given to pulled images (default 10 MB). */
  pulledSizeBytes?: number;
}

export class FakeImages implements ImageRuntime {
  readonly calls: FakeImagesCall[] = [];
  /** Images that were actually pulled (not skipped as present), in order. */
  readonly pulled: string[] = [];
  private readonly store = new Map<string, ImageInfo>();
  private readonly pullFailures = new Map<string, string>();
  private readonly clock: Clock;
  private readonly inUse: () => Iterable<string>;
  private readonly pulledSizeBytes: number;
  private nextId = 1;

  constructor(opts: FakeImagesOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.inUse = opts.inUse ?? (() => []);
    this.pulledSizeBytes = opts.pulledSizeBytes ?? 10_000_000;
  }

  /** Makes pulls of `image` fail with `could not pull <image>: <reason>`. */
  failPull(image: string, reason = 'manifest unknown'): void {
    this.pullFailures.set(image, reason);
  }

  clearFailures(): void {
    this.pullFailures.clear();
  }

  /** Puts an image in the simulated store, as if pulled at `created`. */
  add(image: string, opts: { created?: Date; sizeBytes?: number } = {}): ImageInfo {
    const info: ImageInfo = {
      id: (this.nextId++).toString(16).padStart(64, '0'),
      names: [image],
      created: (opts.created ?? this.clock.now()).toISOString(),
      sizeBytes: opts.sizeBytes ?? this.pulledSizeBytes,
    };
    this.store.set(image, info);
    return info;
  }

  async pull(image: string, opts: { auth?: RegistryAuth | null; always?: boolean } = {}): Promise<void> {
    assertImageRef(image);
    this.calls.push({ method: 'pull', image, always: opts.always ?? false, authUser: opts.auth?.username ?? null });
    const failure = this.pullFailures.get(image);
    if (failure !== undefined) throw new ExternalToolError('podman', `could not pull ${image}: ${failure}`);
    if (!opts.always && this.store.has(image)) return;
    this.add(image);
    this.pulled.push(image);
  }

  async exists(image: string): Promise<boolean> {
    assertImageRef(image);
    this.calls.push({ method: 'exists', image });
    return this.store.has(image);
  }

  async list(): Promise<ImageInfo[]> {
    this.calls.push({ method: 'list' });
    return [...this.store.values()].map((i) => ({ ...i, names: [...i.names] }));
  }

  async prune(opts: { until: string; keep: string[] }): Promise<PruneResult> {
    this.calls.push({ method: 'prune', until: opts.until, keep: [...opts.keep] });
    const cutoff = pruneCutoff(opts.until, this.clock.now()).getTime();
    const protectedNames = new Set([...opts.keep, ...this.inUse()]);
    const result: PruneResult = { removed: [], reclaimedBytes: 0 };
    for (const [name, info] of [...this.store]) {
      if (protectedNames.has(name)) continue;
      if (info.created === null || Date.parse(info.created) > cutoff) continue;
      this.store.delete(name);
      result.removed.push(name);
      result.reclaimedBytes += info.sizeBytes;
    }
    return result;
  }
}

