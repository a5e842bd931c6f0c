import { z } from 'zod';
import { AppName, ConfigKeysArg } from '../src/core/grammar/values.ts';
import { configChangeReply } from './config-change.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const configUnset = defineCommand({
  name: 'config:unset',
  summary: 'Remove config vars; makes a new config version and release (same image)',
  usage: 'config:unset NAME KEY…',
  positionals: [APP_POSITIONAL, { name: 'keys', label: 'KEY', required: true, variadic: true }],
  flags: [],
  args: z.object({ app: AppName, keys: ConfigKeysArg }),
  role: 'deployer',
  sideEffects: true,
  async run(ctx, args) {
    const change = await ctx.services.config.unset(args.app, args.keys, ctx.actor);
    return configChangeReply(args.app, 'Unset', change);
  },
});
