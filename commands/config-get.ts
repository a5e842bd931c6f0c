import { z } from 'zod';
import { AppName, ConfigKeyArg } from '../src/core/grammar/values.ts';
import { message } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const configGet = defineCommand({
  name: 'config:get',
  summary: 'Print one config value in clear',
  usage: 'config:get NAME KEY',
  positionals: [APP_POSITIONAL, { name: 'key', label: 'KEY', required: true }],
  flags: [],
  args: z.object({ app: AppName, key: ConfigKeyArg }),
  role: 'admin',
  sideEffects: false,
  terminalOnly: true,
  async run(ctx, args) {
    const value = await ctx.services.config.get(args.app, args.key, ctx.actor);
    // The value alone, so `$(pvdify config:get myapp KEY)` works in scripts.
    return { blocks: [message(value)], json: { app: args.app, key: args.key, value }, app: args.app };
  },
});
