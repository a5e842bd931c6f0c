import { z } from 'zod';
import { AppName } from '../src/core/grammar/values.ts';
import { heading, record } from '../src/core/reply.ts';
import { orDash, releaseAuthor, shortTime } from './format.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const appsInfo = defineCommand({
  name: 'apps:info',
  summary: 'Show an app: environment, status, release, processes, domains, config keys',
  usage: 'apps:info NAME',
  positionals: [APP_POSITIONAL],
  flags: [],
  args: z.object({ app: AppName }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    const info = ctx.services.apps.info(args.app);
    const { app, latestRelease } = info;
    const processes = Object.entries(app.processes)
      .map(([type, spec]) => `${type}=${spec.count}`)
      .join(' ');
    const latest =
      latestRelease === null
        ? '-'
        : `v${latestRelease.version} ${latestRelease.status}: ${latestRelease.description} (${releaseAuthor(latestRelease)}, ${shortTime(latestRelease.created_at)})`;
    return {
      blocks: [
        heading(app.name),
        record([
          ['Environment', app.environment],
          ['Status', app.status],
          ['Image', orDash(app.image)],
          ['Current release', app.current_release === null ? '-' : `v${app.current_release}`],
          ['Latest release', latest],
          ['Processes', orDash(processes)],
          ['Domains', orDash(info.domains.map((d) => `${d.domain} (${d.status})`).join(', '))],
          ['Config keys', orDash(info.configKeys.join(', '))],
          ['Router port', String(app.bind_port)],
          ['Health check', `${app.healthcheck.path} every ${app.healthcheck.interval}`],
          ['Created', shortTime(app.created_at)],
        ]),
      ],
      json: info,
      app: app.name,
    };
  },
});
