/**
 * `pvdifyd regenerate-units`: after a restore (seed: "Recreate systemd units"), rewrite
 * everything derived from the YAML — env files, instance units, the router unit, the router
 * config and the tunnel ingress — and say what changed. Running it twice changes nothing.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createCaddyAdminClient } from '../adapters/caddy/admin-client.ts';
import { ROUTER_TIERS, renderRouterConfigs, routerTier } from '../adapters/caddy/caddy-router.ts';
import {
  TUNNEL_UNIT_NAME,
  instanceUnitName,
  renderInstanceUnit,
  renderRouterUnits,
  renderTunnelUnit,
} from '../adapters/systemd/unit-file.ts';
import type { Runtime } from '../main.ts';
import { writeFileAtomic } from '../store/atomic-file.ts';
import { renderEnvFile } from '../store/sops/env-file.ts';

export interface RegenerateReport {
  lines: string[];
  changed: number;
  unchanged: number;
  problems: number;
}

export async function regenerate(runtime: Runtime): Promise<RegenerateReport> {
  const { store, engine, options } = runtime;
  const rt = options.runtime;
  const report: RegenerateReport = { lines: [], changed: 0, unchanged: 0, problems: 0 };
  const put = (path: string, text: string, mode: number): boolean => {
    const current = existsSync(path) ? readFileSync(path, 'utf8') : null;
    if (current === text) {
      report.unchanged++;
      return false;
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    writeFileAtomic(path, text, { mode });
    report.lines.push(`${current === null ? 'created' : 'updated'} ${path}`);
    report.changed++;
    return true;
  };

  let unitsChanged = false;
  const wantedUnits = new Set<string>();
  for (const app of store.listApps()) {
    if (!app.deployment) continue;
    let specs;
    try {
      specs = engine.liveSpecs(app.name);
    } catch (e) {
      report.problems++;
      report.lines.push(`problem: ${(e as Error).message}`);
      continue;
    }
    const release = store.getRelease(app.name, app.deployment.release);
    const env = renderEnvFile(await engine.configValues(app.name, release?.config_version ?? null));
    // Env files live in a tracked directory: they go through the store so the index stays fresh.
    for (const name of [`${app.deployment.colour}.env`, 'current.env']) {
      const path = join(store.root, 'config', app.name, name);
      if (existsSync(path) && readFileSync(path, 'utf8') === env) {
        report.unchanged++;
        continue;
      }
      report.lines.push(`${existsSync(path) ? 'updated' : 'created'} ${store.writeSecretFile(app.name, name, env)}`);
      report.changed++;
    }
    if (rt.supervisor !== 'systemd') continue;
    for (const spec of specs) {
      const unit = instanceUnitName(spec);
      wantedUnits.add(unit);
      if (put(join(rt.unitDir, unit), renderInstanceUnit(spec, { podmanPath: rt.podmanPath, stateDir: store.root }), 0o644)) unitsChanged = true;
    }
  }

  if (rt.supervisor === 'systemd') {
    if (rt.router === 'caddy') {
      for (const unit of renderRouterUnits({ caddyPath: rt.caddyPath, stateDir: store.root })) {
        if (put(join(rt.unitDir, unit.name), unit.text, 0o644)) unitsChanged = true;
      }
    }
    // The tunnel unit, once cloudflared is installed (its ingress file is written below).
    if (existsSync(rt.cloudflaredPath) && put(join(rt.unitDir, TUNNEL_UNIT_NAME), renderTunnelUnit({ cloudflaredPath: rt.cloudflaredPath, stateDir: store.root }), 0o644)) {
      unitsChanged = true;
    }
    if (existsSync(rt.unitDir)) {
      for (const f of readdirSync(rt.unitDir).filter((n) => /^pvdify-.+@.+\.service$/.test(n) && !wantedUnits.has(n)).sort()) {
        report.lines.push(`stale unit ${f}: no slot runs it; remove it with: systemctl disable --now ${f} && rm ${join(rt.unitDir, f)}`);
      }
    }
    if (unitsChanged) {
      await runtime.adapters.systemctl.daemonReload();
      report.lines.push('systemctl daemon-reload');
    }
  }

  if (rt.router === 'caddy') {
    const configs = renderRouterConfigs(engine.routesFromSlots(), { stateDir: store.root, adminAddress: rt.caddyAdmin });
    // In start order: the front proxies to the sockets the apps tier opens.
    for (const name of ROUTER_TIERS) {
      const tier = routerTier(store.root, rt.caddyAdmin, name);
      if (!put(tier.configPath, `${JSON.stringify(configs[name], null, 2)}\n`, 0o644)) continue;
      const admin = createCaddyAdminClient(tier.adminAddress, { timeoutMs: 5_000 });
      if (await admin.ping()) {
        await admin.load(configs[name]);
        report.lines.push(`router config loaded into the running router (${name} tier)`);
      }
    }
  }

  const edge = await engine.applyEdge();
  if (edge.changed) {
    report.changed++;
    report.lines.push(`updated ${join(store.root, 'tunnels', 'pvdify-apps.yml')}${edge.restarted ? ' (cloudflared restarted)' : ''}`);
  } else {
    report.unchanged++;
  }
  return report;
}
