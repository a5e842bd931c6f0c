import { z } from 'zod';
import { AppName, EnvironmentArg } from '../src/core/grammar/values.ts';
import { environmentForName } from '../src/core/names.ts';
import { message, record } from '../src/core/reply.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const appsCreate = defineCommand({
  name: 'apps:create',
  summary: 'Create an app (the environment defaults from the name: -staging, -pr-N, else production)',
  usage: 'apps:create NAME [--env production|staging|preview]',
  positionals: [APP_POSITIONAL],
  flags: [{ name: 'env', kind: 'value', valueLabel: 'ENV', description: 'production, staging or preview' }],
  args: z.object({ app: AppName, env: EnvironmentArg }),
  role: 'admin',
  sideEffects: true,
  async run(ctx, args) {
    const environment = args.env ?? environmentForName(args.app);
    const app = await ctx.services.apps.create(args.app, environment, ctx.actor);
    return {
      blocks: [
        message(`Created ${app.name} (${app.environment}). Deploy it with \`deploy ${app.name} IMAGE\`.`, 'success'),
        record([
          ['Name', app.name],
          ['Environment', app.environment],
          ['Router port', String(app.bind_port)],
          ['Status', app.status],
        ]),
      ],
      json: { app },
      app: app.name,
      auditRef: app.name,
    };
  },
});
