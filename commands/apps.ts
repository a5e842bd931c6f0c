import { z } from 'zod';
import { table } from '../src/core/reply.ts';
import { orDash } from './format.ts';
import { defineCommand } from './types.ts';

export const apps = defineCommand({
  name: 'apps',
  summary: 'List the apps',
  usage: 'apps',
  positionals: [],
  flags: [],
  args: z.object({}),
  role: 'viewer',
  sideEffects: false,
  async run(ctx) {
    const list = ctx.services.apps.list();
    return {
      blocks: [
        table(
          ['NAME', 'ENVIRONMENT', 'STATUS', 'RELEASE', 'IMAGE'],
          list.map((a) => [
            a.name,
            a.environment,
            a.status,
            a.current_release === null ? '-' : `v${a.current_release}`,
            orDash(a.image),
          ]),
          'No apps yet. Create one with `apps:create NAME`.',
        ),
      ],
      json: { apps: list },
    };
  },
});
