import { z } from 'zod';
import { AppName, ConfigPairsArg } from '../src/core/grammar/values.ts';
import { configChangeReply } from './config-change.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const configSet = defineCommand({
  name: 'config:set',
  summary: 'Set config vars; makes a new config version and release (same image)',
  usage: 'config:set NAME KEY=VALUE…',
  positionals: [APP_POSITIONAL, { name: 'pairs', label: 'KEY=VALUE', required: true, variadic: true, sensitive: true }],
  flags: [],
  args: z.object({ app: AppName, pairs: ConfigPairsArg }),
  role: 'deployer',
  sideEffects: true,
  async run(ctx, args) {
    const change = await ctx.services.config.set(args.app, args.pairs, ctx.actor);
    return configChangeReply(args.app, 'Set', change);
  },
});
