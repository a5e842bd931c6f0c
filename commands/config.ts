import { z } from 'zod';
import { AppName } from '../src/core/grammar/values.ts';
import { heading, table } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const config = defineCommand({
  name: 'config',
  summary: 'List an app’s config keys (values are masked)',
  usage: 'config NAME',
  positionals: [APP_POSITIONAL],
  flags: [],
  args: z.object({ app: AppName }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    const entries = ctx.services.config.list(args.app);
    return {
      blocks: [
        heading(`${args.app} config vars`),
        table(
          ['KEY', 'VALUE'],
          entries.map((e) => [e.key, e.masked]),
          `${args.app} has no config vars. Set one with \`config:set ${args.app} KEY=VALUE\`.`,
        ),
      ],
      // Built field by field so nothing but the key, mask and length can ever reach the output.
      json: { app: args.app, config: entries.map((e) => ({ key: e.key, masked: e.masked, length: e.length })) },
      app: args.app,
    };
  },
});
