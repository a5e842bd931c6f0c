/**
 * Shared set-up for the live benchmarks: a temp pvdify state driven through the real CLI
 * (podman supervisor, Caddy router), two local busybox images, one app, and a teardown that
 * removes every container, the router process and the temp dir, whatever happened before.
 */
import {
  acquireHostLock,
  assertAppPortsFree,
  createHarness,
  liveToolsMissing,
  percentile,
  prepareImages,
  type AppImage,
  type Harness,
} from '../../test/e2e/support.ts';

export interface LiveApp {
  h: Harness;
  app: string;
  port: number;
  images: { a: AppImage; b: AppImage };
  dispose(): Promise<void>;
}

export async function setUpLiveApp(opts: { drainMs?: number; healthDeadlineSeconds?: number; prefix?: string } = {}): Promise<LiveApp> {
  const missing = liveToolsMissing();
  if (missing) throw new Error(missing);
  const releaseLock = await acquireHostLock();
  let h: Harness | null = null;
  try {
    const built = await prepareImages([
      { name: 'bench-a', body: 'bench app A' },
      { name: 'bench-b', body: 'bench app B' },
    ]);
    h = await createHarness({ drainMs: opts.drainMs, healthDeadlineSeconds: opts.healthDeadlineSeconds ?? 30, prefix: opts.prefix });
    const app = h.newAppName(opts.prefix?.replace(/[^a-z]/g, '') || 'bench');
    await h.pvdifyOk('apps:create', app);
    const port = await h.bindPort(app);
    await assertAppPortsFree(app, port);
    const harness = h;
    return {
      h: harness,
      app,
      port,
      images: { a: built['bench-a']!, b: built['bench-b']! },
      async dispose() {
        try {
          await harness.dispose();
        } finally {
          await releaseLock();
        }
      },
    };
  } catch (e) {
    await h?.dispose().catch(() => {});
    await releaseLock();
    throw e;
  }
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

export { percentile };

/** `--name value` pairs into numbers, refusing unknown flags and non-numbers. */
export function parseNumberFlags<T extends Record<string, number>>(argv: string[], defaults: T, usage: string): T {
  const out: Record<string, number> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const key = flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const value = Number(argv[i + 1]);
    if (!flag.startsWith('--') || !Object.hasOwn(defaults, key) || !Number.isFinite(value) || value < 0) {
      throw new Error(`bad argument ${JSON.stringify(flag)}\nusage: ${usage}`);
    }
    out[key] = value;
    i += 1;
  }
  return out as T;
}

/** Milliseconds with one decimal below 10, none above. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}
