import { z } from 'zod';
import { ImageRef } from '../src/core/names.ts';
import { AppName } from '../src/core/grammar/values.ts';
import { heading, message, record } from '../src/core/reply.ts';
import { releaseRef, shortTime } from './format.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

/** An image reference as users type it; the message says what a valid one looks like. */
export const ImageArg = z.string().superRefine((value, ctx) => {
  if (!ImageRef.safeParse(value).success) {
    const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
    ctx.addIssue({
      code: 'custom',
      message: `${shown} is not a valid image reference (like ghcr.io/org/app:v1.2.3: no spaces, no leading -, at most 255 chars)`,
    });
  }
});

export const deploy = defineCommand({
  name: 'deploy',
  summary: 'Deploy an image: pull, start, health-check, switch traffic with zero downtime',
  usage: 'deploy NAME IMAGE',
  positionals: [APP_POSITIONAL, { name: 'image', label: 'IMAGE', required: true, flag: { long: 'image', short: 'i' } }],
  flags: [],
  args: z.object({ app: AppName, image: ImageArg }),
  role: 'deployer',
  sideEffects: true,
  async run(ctx, args) {
    const release = await ctx.services.rollout.deploy(args.app, args.image, ctx.actor, ctx.onProgress);
    return {
      blocks: [
        heading(`${args.app} v${release.version} is live`),
        record([
          ['image', release.image],
          ['config', release.config_version === null ? '-' : `v${release.config_version}`],
          ['by', release.created_by_name || release.created_by],
          ['finished', shortTime(release.finished_at)],
        ]),
        message(`Deployed ${release.image} to ${args.app} as v${release.version}.`, 'success'),
      ],
      json: { app: args.app, release },
      auditRef: releaseRef(args.app, release.version),
      app: args.app,
    };
  },
});
