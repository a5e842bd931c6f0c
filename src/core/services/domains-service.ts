import { ConflictError, InvalidInputError, NotFoundError } from '../errors.ts';
import { DomainName } from '../names.ts';
import { requireApp } from './apps-service.ts';
import type { ServiceDeps } from './deps.ts';
import type { DomainsService } from './types.ts';

function checkDomain(domain: string): string {
  const lower = domain.toLowerCase();
  const parsed = DomainName.safeParse(lower);
  if (!parsed.success) {
    throw new InvalidInputError(
      `${JSON.stringify(domain.slice(0, 80))} is not a valid domain: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      'for example: domains:add myapp www.example.com',
    );
  }
  return parsed.data;
}

export function createDomainsService(deps: ServiceDeps): DomainsService {
  return {
    list(name) {
      const app = requireApp(deps, name);
      return deps.store.listDomains(app.name);
    },

    async add(name, domain, actor) {
      const host = checkDomain(domain);
      const app = requireApp(deps, name);
      const owner = deps.store.findDomain(host);
      if (owner && owner.app_name === app.name && owner.status !== 'active' && deps.engine) {
        // Attached, but the edge or DNS step failed last time: adding it again retries that step.
        const lock = deps.store.acquireAppLock(app.name, actor.id, 'domains:add');
        try {
          await deps.engine.domainsChanged(app, [host]);
        } finally {
          lock.release();
        }
        const row = deps.store.findDomain(host);
        if (!row) throw new NotFoundError(`${host} vanished while it was being added`);
        return row;
      }
      if (owner) {
        throw new ConflictError(
          owner.app_name === app.name ? `${host} is already attached to ${app.name}` : `${host} is attached to another app (${owner.app_name})`,
          owner.app_name === app.name ? undefined : `remove it there first: domains:remove ${owner.app_name} ${host}`,
        );
      }
      const lock = deps.store.acquireAppLock(app.name, actor.id, 'domains:add');
      try {
        const now = deps.clock.now().toISOString();
        const updated = deps.store.updateApp(app.name, (a) => ({
          ...a,
          domains: [...a.domains, host],
          domain_routes: { ...a.domain_routes, [host]: { status: 'pending', cf_record_id: null, created_at: now } },
        }));
        if (deps.engine) await deps.engine.domainsChanged(updated, [host]);
      } finally {
        lock.release();
      }
      const row = deps.store.findDomain(host);
      if (!row) throw new NotFoundError(`${host} vanished while it was being added`);
      return row;
    },

    async remove(name, domain, actor) {
      const host = checkDomain(domain);
      const app = requireApp(deps, name);
      if (!app.domains.includes(host)) throw new NotFoundError(`${host} is not attached to ${app.name}`, `see its domains with: domains ${app.name}`);
      const lock = deps.store.acquireAppLock(app.name, actor.id, 'domains:remove');
      try {
        const updated = deps.store.updateApp(app.name, (a) => {
          const routes = { ...a.domain_routes };
          delete routes[host];
          return { ...a, domains: a.domains.filter((d) => d !== host), domain_routes: routes };
        });
        if (deps.engine) await deps.engine.domainsChanged(updated, []);
      } finally {
        lock.release();
      }
    },
  };
}
