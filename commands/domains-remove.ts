import { z } from 'zod';
import { AppName, DomainArg } from '../src/core/grammar/values.ts';
import { message } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const domainsRemove = defineCommand({
  name: 'domains:remove',
  summary: 'Stop routing a hostname to an app',
  usage: 'domains:remove NAME DOMAIN',
  positionals: [APP_POSITIONAL, { name: 'domain', label: 'DOMAIN', required: true }],
  flags: [],
  args: z.object({ app: AppName, domain: DomainArg }),
  role: 'admin',
  sideEffects: true,
  async run(ctx, args) {
    await ctx.services.domains.remove(args.app, args.domain, ctx.actor);
    return {
      blocks: [message(`Removed ${args.domain} from ${args.app}.`, 'success')],
      json: { app: args.app, removed: args.domain },
      app: args.app,
      auditRef: args.domain,
    };
  },
});
