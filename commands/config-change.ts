/** The reply for config:set and config:unset: which keys, which config version, which release. */
import type { Reply } from '../src/core/reply.ts';
import { message } from '../src/core/reply.ts';
import type { ConfigChange } from '../src/core/services/types.ts';
import { releaseRef } from './format.ts';

export function configChangeReply(app: string, verb: 'Set' | 'Unset', change: ConfigChange): Reply {
  const release = change.release;
  const effect =
    release === null
      ? `config v${change.configVersion}; it takes effect at the first deploy`
      : `config v${change.configVersion}, release v${release.version} (${release.status})`;
  return {
    blocks: [message(`${verb} ${change.keys.join(', ')} on ${app}: ${effect}.`, 'success')],
    json: {
      app,
      keys: change.keys,
      configVersion: change.configVersion,
      release: release === null ? null : { version: release.version, status: release.status },
    },
    app,
    auditRef: release === null ? `${app} config v${change.configVersion}` : releaseRef(app, release.version),
  };
}
