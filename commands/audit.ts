import { z } from 'zod';
import { AppName, SinceArg, UserArg, limitArg, resolveSince } from '../src/core/grammar/values.ts';
import type { AuditQuery } from '../src/core/ports/store.ts';
import { table } from '../src/core/reply.ts';
import { orDash, shortTime } from './format.ts';
import { defineCommand } from './types.ts';

export const audit = defineCommand({
  name: 'audit',
  summary: 'Show the audit trail, newest first',
  usage: 'audit [--app NAME] [--user USER] [--since WHEN] [--limit N]',
  positionals: [],
  flags: [
    { name: 'app', short: 'a', kind: 'value', valueLabel: 'NAME', description: 'only events for this app' },
    { name: 'user', short: 'u', kind: 'value', valueLabel: 'USER', description: 'only events by this user (id like cli:alice, or name)' },
    { name: 'since', kind: 'value', valueLabel: 'WHEN', description: '2024-05-01, 2024-05-01T10:00:00Z (UTC), or 30m, 24h, 7d, 2w ago' },
    { name: 'limit', short: 'n', kind: 'value', valueLabel: 'N', description: 'how many (default 50, at most 1000)' },
  ],
  args: z.object({ app: AppName.optional(), user: UserArg, since: SinceArg, limit: limitArg(50, 1000) }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    const query: AuditQuery = { limit: args.limit };
    if (args.app !== undefined) query.app = args.app;
    if (args.user !== undefined) query.user = args.user;
    if (args.since !== undefined) query.since = resolveSince(args.since, ctx.now());
    const events = ctx.services.audit.query(query);
    return {
      blocks: [
        table(
          ['TIME', 'WHO', 'OUTCOME', 'APP', 'COMMAND', 'REF'],
          events.map((e) => [
            shortTime(e.time),
            e.actor_name.length > 0 ? e.actor_name : e.actor_id,
            e.outcome,
            orDash(e.app),
            e.command,
            orDash(e.ref ?? e.detail),
          ]),
          'No audit events match.',
        ),
      ],
      json: { query, events },
    };
  },
});
