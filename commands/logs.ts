import { z } from 'zod';
import { AppName, limitArg } from '../src/core/grammar/values.ts';
import { PROCESS_TYPE_RE } from '../src/core/names.ts';
import { heading, table } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const logs = defineCommand({
  name: 'logs',
  summary: 'Show an app’s recent log lines (config values are masked)',
  usage: 'logs NAME [--process TYPE] [--num N]',
  positionals: [APP_POSITIONAL],
  flags: [
    { name: 'process', short: 'p', kind: 'value', valueLabel: 'TYPE', description: 'only this process type (web, worker…)' },
    { name: 'num', short: 'n', kind: 'value', valueLabel: 'N', description: 'how many lines (default 100, at most 5000)' },
  ],
  args: z.object({
    app: AppName,
    process: z.string().regex(PROCESS_TYPE_RE, 'process types are lowercase words like web or worker').optional(),
    num: limitArg(100, 5000),
  }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    const lines = await ctx.services.rollout.logs(args.app, { lines: args.num, process: args.process });
    return {
      blocks: [
        heading(`${args.app} logs`),
        table(['TIME', 'SOURCE', 'MESSAGE'], lines.map((l) => [l.time ?? '-', l.source, l.message]), `${args.app} has no log lines yet.`),
      ],
      json: { app: args.app, lines },
      app: args.app,
    };
  },
});
