import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  noUpstreamBody,
  parseAdminAddress,
  renderCaddyConfig,
  routesFromCaddyConfig,
  validateRoutes,
} from '../../../src/adapters/caddy/caddy-config.ts';
import type { RouteSpec } from '../../../src/core/ports/runtime.ts';

const admin = 'unix//var/lib/pvdify/router/admin.sock';

describe('parseAdminAddress', () => {
  it('accepts a unix socket or a 127.0.0.1 port', () => {
    assert.deepEqual(parseAdminAddress(admin), { kind: 'unix', socketPath: '/var/lib/pvdify/router/admin.sock', listen: admin });
    assert.deepEqual(parseAdminAddress('127.0.0.1:2019'), { kind: 'tcp', host: '127.0.0.1', port: 2019, listen: '127.0.0.1:2019' });
  });

  for (const bad of [':2019', '0.0.0.0:2019', 'localhost:2019', '10.0.0.1:2019', '[::]:2019', '127.0.0.1:0', '127.0.0.1:70000', '127.0.0.1', 'unix/relative.sock', 'unix//tmp/a\nb.sock', `unix//${'x'.repeat(120)}`, 'tcp/127.0.0.1:2019', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseAdminAddress(bad), { code: 'invalid_input' });
    });
  }
});

describe('renderCaddyConfig', () => {
  const routes: RouteSpec[] = [
    { app: 'web', bindPort: 3001, upstreams: [4001, 4002, 4003], healthPath: '/health' },
    { app: 'api', bindPort: 3000, upstreams: [], healthPath: '/up' },
  ];

  it('puts the admin API where it was told, with Caddy autosave off', () => {
    const c = renderCaddyConfig(routes, { adminListen: admin });
    assert.deepEqual(c.admin, { listen: admin, config: { persist: false } });
    assert.equal('grace_period' in c.apps.http, false, 'eternal grace: Caddy 2.6 cancels a finite one on reload');
    assert.equal(renderCaddyConfig([], { adminListen: admin, gracePeriod: '1m' }).apps.http.grace_period, '1m');
    assert.throws(() => renderCaddyConfig([], { adminListen: '0.0.0.0:2019' }), { code: 'invalid_input' });
  });

  it('gives each app one loopback server without automatic HTTPS', () => {
    const c = renderCaddyConfig(routes, { adminListen: admin });
    assert.deepEqual(Object.keys(c.apps.http.servers), ['pvdify-api', 'pvdify-web']);
    const web = c.apps.http.servers['pvdify-web'];
    assert.ok(web);
    assert.deepEqual(web.listen, ['127.0.0.1:3001']);
    assert.deepEqual(web.automatic_https, { disable: true });
  });

  it('proxies round robin to the live instances with retries and health checks', () => {
    const handle = renderCaddyConfig(routes, { adminListen: admin, healthInterval: '2s', healthTimeout: '1s' }).apps.http.servers['pvdify-web']?.routes[0]?.handle;
    assert.ok(handle);
    assert.deepEqual(handle[0], { handler: 'vars', pvdify_app: 'web', pvdify_health_path: '/health' });
    assert.deepEqual(handle[1], {
      handler: 'reverse_proxy',
      upstreams: [{ dial: '127.0.0.1:4001' }, { dial: '127.0.0.1:4002' }, { dial: '127.0.0.1:4003' }],
      load_balancing: {
        selection_policy: { policy: 'round_robin' },
        try_duration: '5s',
        try_interval: '100ms',
        retries: 6,
        retry_match: [{ method: ['GET', 'HEAD', 'OPTIONS'] }],
      },
      health_checks: {
        active: { uri: '/health', interval: '2s', timeout: '1s' },
        passive: { fail_duration: '10s', max_fails: 1 },
      },
    });
  });

  it('answers 503 with a clear body for an app without instances', () => {
    const handle = renderCaddyConfig(routes, { adminListen: admin }).apps.http.servers['pvdify-api']?.routes[0]?.handle;
    assert.ok(handle);
    assert.equal(handle.length, 2);
    assert.equal(handle[1]?.handler, 'static_response');
    assert.equal(handle[1]?.status_code, 503);
    assert.equal(handle[1]?.body, noUpstreamBody('api'));
    assert.match(noUpstreamBody('api'), /app api has no running web instances/);
  });

  it('is deterministic and independent of input order', () => {
    const a = JSON.stringify(renderCaddyConfig(routes, { adminListen: admin }));
    const b = JSON.stringify(renderCaddyConfig([...routes].reverse(), { adminListen: admin }));
    assert.equal(a, b);
  });

  it('refuses bad durations', () => {
    assert.throws(() => renderCaddyConfig(routes, { adminListen: admin, healthInterval: '10 seconds' }), { code: 'invalid_input' });
  });

  it('round-trips through routesFromCaddyConfig', () => {
    const c = JSON.parse(JSON.stringify(renderCaddyConfig(routes, { adminListen: admin }))) as unknown;
    assert.deepEqual(routesFromCaddyConfig(c), validateRoutes(routes));
  });
});

describe('routesFromCaddyConfig', () => {
  it('reads an empty or missing config as no routes', () => {
    assert.deepEqual(routesFromCaddyConfig(null), []);
    assert.deepEqual(routesFromCaddyConfig({ admin: { listen: admin } }), []);
  });

  it('ignores servers that are not ours', () => {
    const c = { apps: { http: { servers: { other: { listen: [':80'], routes: [] } } } } };
    assert.deepEqual(routesFromCaddyConfig(c), []);
  });

  it('reports one of ours edited into an unexpected shape', () => {
    const c = { apps: { http: { servers: { 'pvdify-x': { listen: ['0.0.0.0:3000'], routes: [] } } } } };
    assert.throws(() => routesFromCaddyConfig(c), { code: 'external_tool', message: /pvdify-x does not listen on one 127.0.0.1 port/ });
    const handle = [{ handler: 'vars', pvdify_app: 'x', pvdify_health_path: '/h' }, { handler: 'reverse_proxy', upstreams: [{ dial: '10.0.0.5:80' }] }];
    const d = { apps: { http: { servers: { 'pvdify-x': { listen: ['127.0.0.1:3000'], routes: [{ handle }] } } } } };
    assert.throws(() => routesFromCaddyConfig(d), { code: 'external_tool', message: /not 127.0.0.1/ });
  });
});

describe('validateRoutes', () => {
  it('sorts by app and copies', () => {
    const input: RouteSpec[] = [
      { app: 'b', bindPort: 3001, upstreams: [4002, 4001], healthPath: '/h' },
      { app: 'a', bindPort: 3000, upstreams: [], healthPath: '/h' },
    ];
    const out = validateRoutes(input);
    assert.deepEqual(out.map((r) => r.app), ['a', 'b']);
    assert.deepEqual(out[1]?.upstreams, [4002, 4001]);
    assert.notEqual(out[1]?.upstreams, input[0]?.upstreams);
  });

  it('refuses non-integer ports and paths with spaces', () => {
    assert.throws(() => validateRoutes([{ app: 'a', bindPort: 3000.5, upstreams: [], healthPath: '/h' }]), { code: 'invalid_input' });
    assert.throws(() => validateRoutes([{ app: 'a', bindPort: 3000, upstreams: [0], healthPath: '/h' }]), { code: 'invalid_input' });
    assert.throws(() => validateRoutes([{ app: 'a', bindPort: 3000, upstreams: [], healthPath: '/a b' }]), { code: 'invalid_input' });
  });
});
