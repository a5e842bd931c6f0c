import { z } from 'zod';
import { AppName, appNameProblem } from '../src/core/grammar/values.ts';
import { message } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const appsDelete = defineCommand({
  name: 'apps:delete',
  summary: 'Delete an app with its releases, config and domains (needs --confirm NAME)',
  usage: 'apps:delete NAME --confirm NAME',
  positionals: [APP_POSITIONAL],
  flags: [{ name: 'confirm', kind: 'value', valueLabel: 'NAME', description: 'the app name again, to confirm' }],
  args: z
    .object({ app: AppName, confirm: z.string().optional() })
    // Checked here, before any service call, so a wrong confirmation changes nothing.
    .superRefine((args, ctx) => {
      // A bad name is already reported under NAME; repeating it here would only echo it.
      if (appNameProblem(args.app) === null && args.confirm !== args.app) {
        ctx.addIssue({
          code: 'custom',
          path: ['confirm'],
          message:
            args.confirm === undefined
              ? `deleting ${args.app} removes its releases, config and domains: add --confirm ${args.app}`
              : `does not match the app name: give --confirm ${args.app}`,
        });
      }
    }),
  role: 'admin',
  sideEffects: true,
  async run(ctx, args) {
    await ctx.services.apps.delete(args.app, args.confirm, ctx.actor);
    return {
      blocks: [message(`Deleted ${args.app}: its releases, config and domains are gone.`, 'success')],
      json: { deleted: args.app },
      app: args.app,
      auditRef: args.app,
    };
  },
});
