import { z } from 'zod';
import { AppName, limitArg } from '../src/core/grammar/values.ts';
import { heading, table } from '../src/core/reply.ts';
import { releaseAuthor, shortTime } from './format.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const releases = defineCommand({
  name: 'releases',
  summary: 'List an app’s releases, newest first',
  usage: 'releases NAME [--limit N]',
  positionals: [APP_POSITIONAL],
  flags: [{ name: 'limit', kind: 'value', valueLabel: 'N', description: 'how many (default 10, at most 1000)' }],
  args: z.object({ app: AppName, limit: limitArg(10, 1000) }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    const list = ctx.services.releases.list(args.app, args.limit);
    return {
      blocks: [
        heading(`${args.app} releases`),
        table(
          ['VERSION', 'DESCRIPTION', 'STATUS', 'BY', 'CREATED'],
          list.map((r) => [`v${r.version}`, r.description, r.status, releaseAuthor(r), shortTime(r.created_at)]),
          `${args.app} has no releases yet.`,
        ),
      ],
      json: { app: args.app, releases: list },
      app: args.app,
    };
  },
});
