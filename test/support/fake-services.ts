/**
 * An in-memory `Services` for command, dispatcher and fuzz tests. It behaves like the real
 * services where commands can tell (not-found, conflicts, confirm, terminal-only, releases for
 * config changes) and records every call. It also checks its inputs against the core name
 * rules and throws `FakeContractViolation` (not a PvdifyError, so it surfaces as an internal
 * error) when the grammar lets something invalid through.
 */
import { createHash } from 'node:crypto';
import { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from '../../src/core/errors.ts';
import { AppSlot, AuditEventInput, Release } from '../../src/core/model.ts';
import type { Actor, AuditEvent } from '../../src/core/model.ts';
import { ConfigKey, DomainName, Environment, SlotName } from '../../src/core/names.ts';
import type { Logger } from '../../src/core/ports/clock.ts';
import type { AuditQuery, DomainRow } from '../../src/core/ports/store.ts';
import type { ConfigChange, ConfigEntry, Services } from '../../src/core/services/types.ts';

export class FakeContractViolation extends Error {}

export interface FakeCall {
  method: string;
  args: unknown[];
}

interface FakeState {
  apps: Record<string, AppSlot>;
  releases: Record<string, Release[]>;
  config: Record<string, { version: number; values: Record<string, string> }>;
}

export interface FakeServices extends Services {
  /** Every service call in order (`apps.create`, `config.set`, …) with its arguments. */
  readonly calls: FakeCall[];
  /** Audit events recorded through `recordAudit`, oldest first. */
  readonly events: AuditEvent[];
  /** Pass as the dispatcher's `recordAudit`. */
  recordAudit(input: AuditEventInput): void;
  /** The state (apps, releases, config, domains) as canonical JSON; audit and calls excluded. */
  snapshot(): string;
  /** Makes the next call of `method` (e.g. `config.set`) throw `error` instead. */
  failNext(method: string, error: unknown): void;
  /** Adds an app directly (no call recorded), optionally deployed with config and domains. */
  seedApp(name: string, opts?: { image?: string; config?: Record<string, string>; domains?: string[] }): AppSlot;
  /** The plaintext config of an app (tests only). */
  configValues(app: string): Record<string, string>;
}

function must<T>(schema: { safeParse(v: unknown): { success: boolean } }, value: T, what: string): T {
  if (!schema.safeParse(value).success) {
    throw new FakeContractViolation(`fake services got an invalid ${what}: ${JSON.stringify(String(value).slice(0, 80))}`);
  }
  return value;
}

function notFaked(method: string): FakeContractViolation {
  return new FakeContractViolation(`${method} is not faked yet`);
}

export function createFakeServices(opts: { now?: () => Date } = {}): FakeServices {
  const now = opts.now ?? (() => new Date('2024-05-01T12:00:00.000Z'));
  // Null prototypes: an app named `constructor` is a valid slot name and must not find Object's.
  const state: FakeState = { apps: Object.create(null), releases: Object.create(null), config: Object.create(null) };
  const calls: FakeCall[] = [];
  const events: AuditEvent[] = [];
  const failures = new Map<string, unknown>();

  const call = (method: string, args: unknown[]): void => {
    calls.push({ method, args: structuredClone(args) });
    if (failures.has(method)) {
      const error = failures.get(method);
      failures.delete(method);
      throw error;
    }
  };
  const iso = (): string => now().toISOString();

  const requireApp = (name: string): AppSlot => {
    must(SlotName, name, 'app name');
    const app = state.apps[name];
    if (!app) throw new NotFoundError(`app ${name} does not exist`, 'list apps with `apps`');
    return app;
  };

  const newApp = (name: string, environment: Environment): AppSlot => {
    const used = new Set(Object.values(state.apps).map((a) => a.bind_port));
    let port = 3000;
    while (used.has(port)) port += 1;
    const t = iso();
    return AppSlot.parse({
      version: 1,
      name,
      environment,
      status: 'created',
      image: null,
      bind_port: port,
      processes: { web: { command: null, count: 1 } },
      domains: [],
      resources: { memory: null, cpu: null },
      healthcheck: { path: '/health' },
      created_at: t,
      updated_at: t,
    });
  };

  const addRelease = (app: AppSlot, kind: Release['kind'], description: string, actor: Actor, image: string): Release => {
    const list = (state.releases[app.name] ??= []);
    const t = iso();
    const release = Release.parse({
      schema_version: 1,
      app: app.name,
      version: list.length + 1,
      kind,
      image,
      config_version: state.config[app.name]?.version ?? null,
      status: 'succeeded',
      description,
      source: actor.source,
      created_by: actor.id,
      created_by_name: actor.name,
      created_at: t,
      updated_at: t,
      finished_at: t,
    });
    list.push(release);
    app.current_release = release.version;
    app.status = 'running';
    return release;
  };

  const changeConfig = (app: AppSlot, values: Record<string, string>, description: string, actor: Actor, keys: string[]): ConfigChange => {
    const version = (state.config[app.name]?.version ?? 0) + 1;
    state.config[app.name] = { version, values };
    app.config_version = version;
    const release = app.image === null ? null : addRelease(app, 'config', description, actor, app.image);
    return { configVersion: version, release, keys };
  };

  const domainRows = (appName?: string): DomainRow[] =>
    Object.values(state.apps)
      .filter((a) => appName === undefined || a.name === appName)
      .flatMap((a) =>
        a.domains.map((domain) => {
          const route = a.domain_routes[domain];
          return {
            domain,
            app_name: a.name,
            status: route?.status ?? 'pending',
            cf_record_id: route?.cf_record_id ?? null,
            created_at: route?.created_at ?? a.created_at,
          };
        }),
      );

  const fake: FakeServices = {
    calls,
    events,
    apps: {
      list() {
        call('apps.list', []);
        return Object.values(state.apps).sort((a, b) => a.name.localeCompare(b.name));
      },
      info(name) {
        call('apps.info', [name]);
        const app = requireApp(name);
        return {
          app,
          latestRelease: state.releases[name]?.at(-1) ?? null,
          configKeys: Object.keys(state.config[name]?.values ?? {}).sort(),
          domains: domainRows(name),
        };
      },
      async create(name, environment, actor) {
        call('apps.create', [name, environment, actor.id]);
        must(SlotName, name, 'app name');
        if (environment !== undefined) must(Environment, environment, 'environment');
        if (state.apps[name]) throw new ConflictError(`app ${name} already exists`);
        const app = newApp(name, environment ?? 'production');
        state.apps[name] = app;
        return app;
      },
      async delete(name, confirm, actor) {
        call('apps.delete', [name, confirm, actor.id]);
        requireApp(name);
        if (confirm !== name) throw new InvalidInputError(`deleting ${name} needs --confirm ${name}`);
        delete state.apps[name];
        delete state.releases[name];
        delete state.config[name];
      },
    },
    releases: {
      list(app, limit) {
        call('releases.list', [app, limit]);
        requireApp(app);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new FakeContractViolation(`bad limit ${limit}`);
        return [...(state.releases[app] ?? [])].reverse().slice(0, limit);
      },
      info(app, version) {
        call('releases.info', [app, version]);
        requireApp(app);
        const release = state.releases[app]?.find((r) => r.version === version);
        if (!release) throw new NotFoundError(`${app} has no release v${version}`);
        return release;
      },
    },
    config: {
      list(app): ConfigEntry[] {
        call('config.list', [app]);
        requireApp(app);
        return Object.entries(state.config[app]?.values ?? {})
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, value]) => {
            const length = Buffer.byteLength(value, 'utf8');
            return { key, masked: `•••••••• (${length} chars)`, length };
          });
      },
      async set(appName, pairs, actor) {
        call('config.set', [appName, pairs.map(([k]) => [k, '<value>']), actor.id]);
        const app = requireApp(appName);
        if (pairs.length === 0) throw new FakeContractViolation('config.set without pairs');
        const seen = new Set<string>();
        for (const [key] of pairs) {
          must(ConfigKey, key, 'config key');
          if (seen.has(key)) throw new FakeContractViolation(`duplicate key ${key}`);
          seen.add(key);
        }
        const values = { ...(state.config[appName]?.values ?? {}), ...Object.fromEntries(pairs) };
        const keys = pairs.map(([k]) => k);
        return changeConfig(app, values, `Set ${keys.join(', ')}`, actor, keys);
      },
      async unset(appName, keys, actor) {
        call('config.unset', [appName, keys, actor.id]);
        const app = requireApp(appName);
        if (keys.length === 0) throw new FakeContractViolation('config.unset without keys');
        for (const key of keys) must(ConfigKey, key, 'config key');
        const values = { ...(state.config[appName]?.values ?? {}) };
        const missing = keys.filter((k) => !(k in values));
        if (missing.length > 0) throw new NotFoundError(`${appName} has no config ${missing.join(', ')}`);
        for (const key of keys) delete values[key];
        return changeConfig(app, values, `Unset ${keys.join(', ')}`, actor, keys);
      },
      async get(app, key, actor) {
        call('config.get', [app, key, actor.id]);
        requireApp(app);
        must(ConfigKey, key, 'config key');
        if (actor.terminal !== true) throw new ForbiddenError('config:get only runs on a terminal');
        const value = state.config[app]?.values[key];
        if (value === undefined) throw new NotFoundError(`${app} has no config ${key}`);
        return value;
      },
    },
    domains: {
      list(app) {
        call('domains.list', [app]);
        requireApp(app);
        return domainRows(app);
      },
      async add(appName, domain, actor) {
        call('domains.add', [appName, domain, actor.id]);
        const app = requireApp(appName);
        must(DomainName, domain, 'domain');
        const owner = Object.values(state.apps).find((a) => a.domains.includes(domain));
        if (owner) throw new ConflictError(`${domain} already routes to ${owner.name}`);
        app.domains.push(domain);
        app.domain_routes[domain] = { status: 'active', cf_record_id: null, created_at: iso() };
        return domainRows(appName).find((d) => d.domain === domain) as DomainRow;
      },
      async remove(appName, domain, actor) {
        call('domains.remove', [appName, domain, actor.id]);
        const app = requireApp(appName);
        must(DomainName, domain, 'domain');
        if (!app.domains.includes(domain)) throw new NotFoundError(`${domain} is not a domain of ${appName}`);
        app.domains = app.domains.filter((d) => d !== domain);
        delete app.domain_routes[domain];
      },
    },
    audit: {
      query(q: AuditQuery) {
        call('audit.query', [q]);
        return events
          .filter((e) => q.app === undefined || e.app === q.app)
          .filter((e) => q.user === undefined || e.actor_id === q.user || e.actor_name.toLowerCase() === q.user.toLowerCase())
          .filter((e) => q.since === undefined || e.time >= q.since)
          .reverse()
          .slice(0, q.limit ?? 50);
      },
    },
    // No command here drives the rollout engine yet; reaching it means a test needs a real fake.
    rollout: {
      deploy: () => Promise.reject(notFaked('rollout.deploy')),
      rollback: () => Promise.reject(notFaked('rollout.rollback')),
      ps: () => Promise.reject(notFaked('rollout.ps')),
      scale: () => Promise.reject(notFaked('rollout.scale')),
      restart: () => Promise.reject(notFaked('rollout.restart')),
      logs: () => Promise.reject(notFaked('rollout.logs')),
    },
    recordAudit(input) {
      // Parsing with the real schema makes an over-long or malformed event fail the test.
      const parsed = AuditEventInput.parse(input);
      const prev = events.at(-1)?.hash ?? '0'.repeat(64);
      const line = JSON.stringify(parsed);
      events.push({
        ...parsed,
        seq: events.length + 1,
        id: `evt-${events.length + 1}`,
        time: iso(),
        prev,
        hash: createHash('sha256').update(prev + line).digest('hex'),
      });
    },
    snapshot() {
      return JSON.stringify(state);
    },
    failNext(method, error) {
      failures.set(method, error);
    },
    seedApp(name, seed = {}) {
      const app = newApp(must(SlotName, name, 'app name'), name.endsWith('-staging') ? 'staging' : 'production');
      state.apps[name] = app;
      const actor: Actor = { id: 'cli:seed', name: 'seed', source: 'cli' };
      if (seed.image !== undefined) {
        app.image = seed.image;
        addRelease(app, 'deploy', `Deploy ${seed.image}`, actor, seed.image);
      }
      if (seed.config !== undefined) changeConfig(app, { ...seed.config }, 'Set config', actor, Object.keys(seed.config));
      for (const domain of seed.domains ?? []) {
        app.domains.push(domain);
        app.domain_routes[domain] = { status: 'active', cf_record_id: null, created_at: iso() };
      }
      return app;
    },
    configValues(app) {
      return { ...(state.config[app]?.values ?? {}) };
    },
  };
  return fake;
}

/** A terminal actor (what `pvdify` builds for a unix user). */
export const terminalActor: Actor = { id: 'cli:alice', name: 'alice', source: 'cli', channel: null, terminal: true };
/** A Slack actor (not on a terminal). */
export const slackActor: Actor = { id: 'slack:U123', name: 'bob', source: 'slack', channel: 'C0123' };

export interface RecordedLogLine {
  level: string;
  obj: unknown;
  msg: string | undefined;
}

/** A Logger that keeps every line, so tests can assert on what was (not) logged. */
export function createRecordingLogger(): { log: Logger; lines: RecordedLogLine[]; text(): string } {
  const lines: RecordedLogLine[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const at =
      (level: string) =>
      (obj: object | string, msg?: string): void => {
        lines.push({ level, obj: typeof obj === 'string' ? { ...bindings, msg: obj } : { ...bindings, ...obj }, msg });
      };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (b) => make({ ...bindings, ...b }) };
  };
  const text = (): string =>
    lines
      .map((l) => {
        const obj = l.obj as Record<string, unknown>;
        const err = obj.err instanceof Error ? ` ${obj.err.message} ${obj.err.stack ?? ''}` : '';
        return `${l.level} ${l.msg ?? ''} ${JSON.stringify(obj)}${err}`;
      })
      .join('\n');
  return { log: make({}), lines, text };
}
