import { z } from 'zod';
import { AppName } from '../src/core/grammar/values.ts';
import { PROCESS_TYPE_RE } from '../src/core/names.ts';
import { message } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const psRestart = defineCommand({
  name: 'ps:restart',
  summary: 'Restart an app’s instances one at a time (all types, or one)',
  usage: 'ps:restart NAME [TYPE]',
  positionals: [APP_POSITIONAL, { name: 'type', label: 'TYPE', required: false }],
  flags: [],
  args: z.object({
    app: AppName,
    type: z.string().regex(PROCESS_TYPE_RE, 'process types are lowercase words like web or worker').optional(),
  }),
  role: 'deployer',
  sideEffects: true,
  async run(ctx, args) {
    const n = await ctx.services.rollout.restart(args.app, args.type, ctx.actor, ctx.onProgress);
    return {
      blocks: [message(`Restarted ${n} ${args.type ?? ''}${args.type ? ' ' : ''}instance${n === 1 ? '' : 's'} of ${args.app}, one at a time.`, 'success')],
      json: { app: args.app, type: args.type ?? null, restarted: n },
      app: args.app,
    };
  },
});
