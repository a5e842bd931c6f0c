import { z } from 'zod';
import { AppName } from '../src/core/grammar/values.ts';
import { PROCESS_TYPE_RE } from '../src/core/names.ts';
import { heading, message, table } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

/** `web=3 worker=1`: process types and counts 0–20, each type once. */
const ScalePairs = z
  .array(z.string())
  .min(1, 'give at least one TYPE=COUNT, like web=3')
  .transform((tokens, ctx) => {
    const counts: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const token of tokens) {
      const m = /^([^=]*)=(.*)$/.exec(token);
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(token.slice(0, 40))} is not TYPE=COUNT (like web=3)` });
        continue;
      }
      const [, type = '', count = ''] = m;
      if (!PROCESS_TYPE_RE.test(type)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(type.slice(0, 40))} is not a process type (like web or worker)` });
      else if (Object.hasOwn(counts, type)) ctx.addIssue({ code: 'custom', message: `${type} is given more than once` });
      else if (!/^\d{1,2}$/.test(count) || Number(count) > 20) ctx.addIssue({ code: 'custom', message: `${type}=${count.slice(0, 20)}: counts are whole numbers from 0 to 20` });
      else counts[type] = Number(count);
    }
    return { ...counts };
  });

export const psScale = defineCommand({
  name: 'ps:scale',
  summary: 'Set how many instances of each process type run (0–20)',
  usage: 'ps:scale NAME TYPE=COUNT…',
  positionals: [APP_POSITIONAL, { name: 'counts', label: 'TYPE=COUNT', required: true, variadic: true }],
  flags: [],
  args: z.object({ app: AppName, counts: ScalePairs }),
  role: 'deployer',
  sideEffects: true,
  async run(ctx, args) {
    const app = await ctx.services.rollout.scale(args.app, args.counts, ctx.actor, ctx.onProgress);
    const summary = Object.entries(args.counts).map(([t, n]) => `${t}=${n}`).join(' ');
    return {
      blocks: [
        heading(`${args.app} scaled`),
        table(['TYPE', 'COUNT'], Object.entries(app.processes).map(([t, p]) => [t, String(p.count)])),
        message(app.deployment ? `Now running ${summary}.` : `Saved ${summary}; it applies at the next deploy.`, 'success'),
      ],
      json: { app: args.app, processes: app.processes },
      auditRef: `${args.app} ${summary}`,
      app: args.app,
    };
  },
});
