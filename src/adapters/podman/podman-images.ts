/**
 * ImageRuntime on Podman. Prune is done by hand rather than with `podman image prune -a`: the
 * candidates are listed, every image in `keep` (resolved to its id, so any of its tags or a
 * short name counts) and every image a container uses is taken out, and only the rest are
 * removed one by one without `--force`.
 */
import { InvalidInputError } from '../../core/errors.ts';
import { silentLogger, systemClock, type Clock, type Logger } from '../../core/ports/clock.ts';
import type { ImageInfo, ImageRuntime, PruneResult, RegistryAuth } from '../../core/ports/runtime.ts';
import { assertImageRef } from './instance-spec.ts';
import { apiOrCli, type PodmanApi } from './podman-api.ts';
import type { PodmanCli, PodmanImage } from './podman-cli.ts';

export interface PodmanImagesOptions {
  cli: PodmanCli;
  /** Podman's REST API: `exists` asks it when its service answers (~3 ms instead of ~30). */
  api?: PodmanApi | null;
  clock?: Clock;
  log?: Logger;
}

export class PodmanImages implements ImageRuntime {
  private readonly cli: PodmanCli;
  private readonly api: PodmanApi | null;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(opts: PodmanImagesOptions) {
    this.cli = opts.cli;
    this.api = opts.api ?? null;
    this.clock = opts.clock ?? systemClock;
    this.log = (opts.log ?? silentLogger).child({ component: 'podman-images' });
  }

  async pull(image: string, opts: { auth?: RegistryAuth | null; always?: boolean } = {}): Promise<void> {
    assertImageRef(image);
    if (!opts.always && (await this.exists(image))) return;
    const started = Date.now();
    await this.cli.pull(image, { auth: opts.auth ?? null });
    this.log.info({ image, ms: Date.now() - started }, 'image pulled');
  }

  async exists(image: string): Promise<boolean> {
    assertImageRef(image);
    return apiOrCli(
      this.api,
      (api) => api.imageExists(image),
      () => this.cli.imageExists(image),
    );
  }

  async list(): Promise<ImageInfo[]> {
    return (await this.cli.images()).map(toImageInfo);
  }

  async prune(opts: { until: string; keep: string[] }): Promise<PruneResult> {
    const cutoff = pruneCutoff(opts.until, this.clock.now());
    const [images, containers] = await Promise.all([this.cli.images(), this.cli.ps()]);
    const inUse = new Set(containers.flatMap((c) => (c.imageId ? [c.imageId] : [])));
    const kept = await this.resolveKeep(opts.keep);
    const keepNames = new Set(opts.keep);

    const candidates = images.filter(
      (img) =>
        !kept.has(img.id) &&
        !img.names.some((n) => keepNames.has(n)) &&
        !inUse.has(img.id) &&
        img.containers === 0 &&
        img.created !== null &&
        img.created.getTime() <= cutoff.getTime(),
    );

    const result: PruneResult = { removed: [], reclaimedBytes: 0 };
    for (const img of candidates) {
      // By name when it has names: podman refuses to remove a multi-tagged image by id without
      // --force, and --force would also remove containers.
      const refs = img.names.length > 0 ? img.names : [img.id];
      try {
        await this.cli.rmi(refs);
        result.removed.push(...(img.names.length > 0 ? img.names : [img.id.slice(0, 12)]));
        result.reclaimedBytes += img.sizeBytes;
      } catch (e) {
        // Typically a container started using it since we listed: leaving it is the safe side.
        this.log.warn({ image: refs, err: String(e) }, 'image not pruned');
      }
    }
    this.log.info({ removed: result.removed.length, reclaimedBytes: result.reclaimedBytes }, 'images pruned');
    return result;
  }

  /** Ids of the images `keep` names that exist here. Any error aborts the prune (safe side). */
  private async resolveKeep(keep: string[]): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const ref of new Set(keep)) {
      const found = await this.cli.inspectImage(ref);
      if (found) ids.add(found.id);
    }
    return ids;
  }
}

function toImageInfo(img: PodmanImage): ImageInfo {
  return { id: img.id, names: img.names, created: img.created?.toISOString() ?? null, sizeBytes: img.sizeBytes };
}


const UNTIL_RE = /^(\d{1,7})(s|m|h|d)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Images created at or before the returned instant may go. `until` is a duration before `now`
 * as podman's prune filter writes it (`168h`, `30m`, `7d`, `0s`) or an ISO timestamp.
 */
export function pruneCutoff(until: string, now: Date): Date {
  const m = UNTIL_RE.exec(until.trim());
  if (m) {
    const unit = m[2] as keyof typeof UNIT_MS;
    return new Date(now.getTime() - Number(m[1]) * UNIT_MS[unit]);
  }
  if (/^\d{4}-\d{2}-\d{2}T/.test(until)) {
    const t = Date.parse(until);
    if (Number.isFinite(t)) return new Date(t);
  }
  throw new InvalidInputError(`invalid prune age ${JSON.stringify(until)}`, 'use a duration such as 168h or 7d');
}
