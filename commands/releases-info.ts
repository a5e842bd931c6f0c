import { z } from 'zod';
import { AppName, ReleaseVersionArg } from '../src/core/grammar/values.ts';
import { heading, record } from '../src/core/reply.ts';
import { orDash, releaseAuthor, releaseRef, shortTime } from './format.ts';
import { APP_POSITIONAL, defineCommand } from './types.ts';

export const releasesInfo = defineCommand({
  name: 'releases:info',
  summary: 'Show one release: image, config version, who, status, error',
  usage: 'releases:info NAME vN',
  positionals: [APP_POSITIONAL, { name: 'version', label: 'vN', required: true }],
  flags: [],
  args: z.object({ app: AppName, version: ReleaseVersionArg }),
  role: 'viewer',
  sideEffects: false,
  async run(ctx, args) {
    const r = ctx.services.releases.info(args.app, args.version);
    const fields: Array<[string, string]> = [
      ['Version', `v${r.version}`],
      ['Kind', r.kind],
      ['Status', r.status],
      ['Description', r.description],
      ['Image', r.image],
      ['Config version', r.config_version === null ? '-' : `v${r.config_version}`],
      ['By', `${releaseAuthor(r)} (${r.created_by})`],
      ['Approved by', orDash(r.approved_by)],
      ['Source', r.source],
      ['Created', shortTime(r.created_at)],
      ['Finished', shortTime(r.finished_at)],
    ];
    if (r.rollback_of !== null) fields.push(['Rollback of', `v${r.rollback_of}`]);
    if (r.error !== null) fields.push(['Error', `${r.error.step}: ${r.error.message}`]);
    return {
      blocks: [heading(releaseRef(r.app, r.version)), record(fields)],
      json: { release: r },
      app: args.app,
      auditRef: releaseRef(r.app, r.version),
    };
  },
});
