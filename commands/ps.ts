import { z } from 'zod';
import { AppName } from '../src/core/grammar/values.ts';
import { heading, table } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

function uptime(since: string | null, now: Date): string {
  if (!since) return '-';
  const s = Math.max(0, Math.round((now.getTime() - new Date(since).getTime()) / 1000));
  if (Number.isNaN(s)) return '-';
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

function bytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export const ps = defineCommand({
  name: 'ps',
  summary: 'List an app’s instances: colour, state, uptime, CPU and memory',
  usage: 'ps NAME',
  positionals: [APP_POSITIONAL],
  flags: [],
  args: z.object({ app: AppName }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    const list = await ctx.services.rollout.ps(args.app);
    const now = ctx.now();
    return {
      blocks: [
        heading(`${args.app} instances`),
        table(
          ['INSTANCE', 'COLOUR', 'STATE', 'RELEASE', 'PORT', 'UPTIME', 'CPU', 'MEMORY'],
          list.map((i) => [
            `${i.process}.${i.index}`,
            `${i.colour}${i.live ? '' : ' (idle)'}`,
            i.restarts > 0 ? `${i.state} (${i.restarts} restarts)` : i.state,
            i.release === null ? '-' : `v${i.release}`,
            i.hostPort === null ? '-' : String(i.hostPort),
            uptime(i.since, now),
            i.stats?.cpuPercent == null ? '-' : `${i.stats.cpuPercent.toFixed(1)}%`,
            bytes(i.stats?.memoryBytes ?? null),
          ]),
          `${args.app} has no instances running. Deploy it with: deploy ${args.app} IMAGE`,
        ),
      ],
      json: { app: args.app, instances: list },
      app: args.app,
    };
  },
});
