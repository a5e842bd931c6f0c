import { z } from 'zod';
import { AppName } from '../src/core/grammar/values.ts';
import { heading, table } from '../src/core/reply.ts';
import { shortTime } from './format.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const domains = defineCommand({
  name: 'domains',
  summary: 'List an app’s domains and their edge status',
  usage: 'domains NAME',
  positionals: [APP_POSITIONAL],
  flags: [],
  args: z.object({ app: AppName }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    const rows = ctx.services.domains.list(args.app);
    return {
      blocks: [
        heading(`${args.app} domains`),
        table(
          ['DOMAIN', 'STATUS', 'ADDED'],
          rows.map((d) => [d.domain, d.status, shortTime(d.created_at)]),
          `${args.app} has no domains. Add one with \`domains:add ${args.app} DOMAIN\`.`,
        ),
      ],
      json: { app: args.app, domains: rows },
      app: args.app,
    };
  },
});
