import { z } from 'zod';
import { AppName, ReleaseVersionArg } from '../src/core/grammar/values.ts';
import { heading, message } from '../src/core/reply.ts';
import { releaseRef } from './format.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const rollback = defineCommand({
  name: 'rollback',
  summary: 'Roll back to an earlier release (default: the one before the current one)',
  usage: 'rollback NAME [vN]',
  positionals: [APP_POSITIONAL, { name: 'version', label: 'vN', required: false }],
  flags: [],
  args: z.object({ app: AppName, version: ReleaseVersionArg.optional() }),
  role: 'deployer',
  sideEffects: true,
  async run(ctx, args) {
    const release = await ctx.services.rollout.rollback(args.app, args.version, ctx.actor, ctx.onProgress);
    return {
      blocks: [
        heading(`${args.app} v${release.version} is live`),
        message(`${release.description}: ${release.image} is serving ${args.app} again as v${release.version}.`, 'success'),
      ],
      json: { app: args.app, release },
      auditRef: releaseRef(args.app, release.version),
      app: args.app,
    };
  },
});
