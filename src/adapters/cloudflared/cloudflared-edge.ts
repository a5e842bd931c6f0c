/**
 * The Edge port over cloudflared: `tunnels/pvdify-apps.yml` is rendered from the domains, checked
 * by our validator, then by `cloudflared tunnel --config <temp file> ingress validate` (when the
 * binary is installed) before it replaces the old file. cloudflared does not reload its config
 * file, so the tunnel is restarted when what it routes changed, and only then.
 */
import { constants } from 'node:fs';
import { access, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ExternalToolError, InvalidInputError, isPvdifyError } from '../../core/errors.ts';
import { DOMAIN_RE } from '../../core/names.ts';
import type { Logger } from '../../core/ports/clock.ts';
import type { Edge, EdgeRoute } from '../../core/ports/runtime.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { planEdgeApply, renderTunnelConfig, tunnelHostnames } from './tunnel-config.ts';

export interface CloudflaredEdgeOptions {
  stateDir: string;
  cloudflaredPath: string;
  /** Restarts the tunnel process (the lead wires `systemctl restart cloudflared-pvdify.service`). */
  restartTunnel: () => Promise<void>;
  /** Tunnel name or UUID. */
  tunnel: string;
  credentialsFile: string;
  log: Logger;
  /** Extra environment for cloudflared (added to this process's). */
  env?: Record<string, string>;
  /** Per cloudflared call. Default 60 s (`route dns` talks to Cloudflare's API). */
  timeoutMs?: number;
}

export function tunnelConfigPath(stateDir: string): string {
  return join(stateDir, 'tunnels', 'pvdify-apps.yml');
}

/** cloudflared logs `<time> <LEVEL> <message>`; the last ERR line (else the last line) says why. */
function explain(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const err = [...lines].reverse().find((l) => /\b(ERR|FTL)\b|failed|error/i.test(l));
  return (err ?? lines.at(-1) ?? 'no output').replace(/^\S+Z\s+(ERR|FTL|WRN|INF)\s+/, '').slice(0, 500);
}

/** `cloudflared tunnel route dns` prints no record id today; accept one if a version does. */
export function parseRecordId(output: string): string | null {
  const m = /\brecord[ _-]?id[=:]\s*"?([A-Za-z0-9-]{6,64})/i.exec(output);
  return m ? (m[1] as string) : null;
}

export function createCloudflaredEdge(opts: CloudflaredEdgeOptions): Edge {
  const file = tunnelConfigPath(opts.stateDir);
  const log = opts.log.child({ component: 'cloudflared-edge' });
  const timeout = opts.timeoutMs ?? 60_000;
  let queue: Promise<unknown> = Promise.resolve();

  async function installed(): Promise<boolean> {
    try {
      await access(opts.cloudflaredPath, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }

  async function run(args: string[]): Promise<{ ok: boolean; output: string }> {
    const r = await execa(opts.cloudflaredPath, args, { env: opts.env, timeout, reject: false, all: true, stdin: 'ignore' });
    if (r.timedOut) throw new ExternalToolError('cloudflared', `cloudflared ${args.slice(0, 3).join(' ')} timed out after ${timeout} ms`);
    if (r.failed && r.exitCode === undefined) throw new ExternalToolError('cloudflared', `cannot run ${opts.cloudflaredPath}: ${r.shortMessage}`);
    return { ok: r.exitCode === 0, output: r.all ?? '' };
  }

  async function cloudflaredValidate(path: string): Promise<void> {
    if (!(await installed())) {
      log.debug({ cloudflaredPath: opts.cloudflaredPath }, 'cloudflared not installed: skipping `ingress validate`');
      return;
    }
    const r = await run(['tunnel', '--config', path, 'ingress', 'validate']);
    if (!r.ok) throw new ExternalToolError('cloudflared', `cloudflared refused the tunnel config: ${explain(r.output)}`);
  }

  async function apply(routes: EdgeRoute[]): Promise<{ changed: boolean; restarted: boolean }> {
    const text = renderTunnelConfig(routes, { tunnel: opts.tunnel, credentialsFile: opts.credentialsFile });
    const previous = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw new ExternalToolError('cloudflared', `cannot read ${file}: ${e.code ?? e.message}`);
    });
    const plan = planEdgeApply(previous, text);
    if (!plan.write) return { changed: false, restarted: false };
    // The check runs on the temp file: a config cloudflared refuses never replaces a good one.
    await writeFileAtomic(file, text, { beforeCommit: cloudflaredValidate });
    if (!plan.restart) {
      log.info({ hostnames: tunnelHostnames(text).length }, 'tunnel config rewritten; routing unchanged, no restart');
      return { changed: true, restarted: false };
    }
    try {
      await opts.restartTunnel();
    } catch (e) {
      // Put the old file back so the next apply sees the change again and retries the restart.
      if (previous === null) await rm(file, { force: true });
      else await writeFileAtomic(file, previous);
      const why = isPvdifyError(e) ? e.message : (e as Error).message;
      throw new ExternalToolError('cloudflared', `restarting the tunnel failed: ${why}`, 'check `systemctl status cloudflared-pvdify.service`');
    }
    log.info({ hostnames: tunnelHostnames(text) }, 'tunnel config applied; tunnel restarted');
    return { changed: true, restarted: true };
  }

  return {
    apply(routes) {
      const next = queue.then(() => apply(routes));
      queue = next.catch(() => {});
      return next;
    },
    async routeDns(hostname) {
      if (typeof hostname !== 'string' || hostname.length > 253 || !DOMAIN_RE.test(hostname)) {
        throw new InvalidInputError(`not a hostname cloudflared can route: ${JSON.stringify(String(hostname).slice(0, 100))}`);
      }
      if (!(await installed())) {
        throw new ExternalToolError('cloudflared', `cloudflared is not installed at ${opts.cloudflaredPath}`, 'install cloudflared or set PVDIFY_CLOUDFLARED');
      }
      const r = await run(['tunnel', 'route', 'dns', opts.tunnel, hostname]);
      if (!r.ok) throw new ExternalToolError('cloudflared', `cloudflared could not route ${hostname}: ${explain(r.output)}`);
      const recordId = parseRecordId(r.output);
      log.info({ hostname, recordId }, 'DNS routed to the tunnel');
      return { recordId };
    },
  };
}
