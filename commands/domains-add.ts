import { z } from 'zod';
import { AppName, DomainArg } from '../src/core/grammar/values.ts';
import { message } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const domainsAdd = defineCommand({
  name: 'domains:add',
  summary: 'Route a hostname to an app (cloudflared ingress + router)',
  usage: 'domains:add NAME DOMAIN',
  positionals: [APP_POSITIONAL, { name: 'domain', label: 'DOMAIN', required: true }],
  flags: [],
  args: z.object({ app: AppName, domain: DomainArg }),
  role: 'admin',
  sideEffects: true,
  async run(ctx, args) {
    const row = await ctx.services.domains.add(args.app, args.domain, ctx.actor);
    return {
      blocks: [message(`Added ${row.domain} to ${args.app} (${row.status}).`, 'success')],
      json: { app: args.app, domain: row },
      app: args.app,
      auditRef: row.domain,
    };
  },
});
