import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appSocketPath,
  noUpstreamBody,
  parseAdminAddress,
  renderCaddyConfig,
  renderFrontConfig,
  routesFromCaddyConfig,
  validateRoutes,
} from '../../../src/adapters/caddy/caddy-config.ts';
import type { RouteSpec } from '../../../src/core/ports/runtime.ts';

const admin = 'unix//var/lib/pvdify/router/admin.sock';
const socketDir = '/var/lib/pvdify/router/sock';

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
    const c = renderCaddyConfig(routes, { adminListen: admin, socketDir });
    assert.deepEqual(c.admin, { listen: admin, config: { persist: false } });
    assert.equal('grace_period' in c.apps.http, false, 'eternal grace: Caddy 2.6 cancels a finite one on reload');
    assert.equal(renderCaddyConfig([], { adminListen: admin, socketDir, gracePeriod: '1m' }).apps.http.grace_period, '1m');
    assert.throws(() => renderCaddyConfig([], { adminListen: '0.0.0.0:2019', socketDir }), { code: 'invalid_input' });
  });

  it('gives each app one server on its unix socket without automatic HTTPS', () => {
    const c = renderCaddyConfig(routes, { adminListen: admin, socketDir });
    assert.deepEqual(Object.keys(c.apps.http.servers), ['pvdify-api', 'pvdify-web']);
    const web = c.apps.http.servers['pvdify-web'];
    assert.ok(web);
    assert.deepEqual(web.listen, ['unix//var/lib/pvdify/router/sock/web.sock']);
    assert.deepEqual(web.automatic_https, { disable: true });
  });

  it('sends Caddy\'s log to a rolled file when given one, and refuses a relative path', () => {
    assert.equal(renderCaddyConfig(routes, { adminListen: admin, socketDir }).logging, undefined);
    const c = renderCaddyConfig(routes, { adminListen: admin, socketDir, logFile: '/var/lib/pvdify/router/logs/apps.log' });
    assert.deepEqual(c.logging, {
      logs: { default: { writer: { output: 'file', filename: '/var/lib/pvdify/router/logs/apps.log', roll_size_mb: 10, roll_keep: 5, roll_gzip: true } } },
    });
    const f = renderFrontConfig(routes, { adminListen: admin, socketDir, logFile: '/l/front.log' });
    assert.equal(f.logging?.logs.default.writer.filename, '/l/front.log');
    assert.throws(() => renderCaddyConfig(routes, { adminListen: admin, socketDir, logFile: 'apps.log' }), { code: 'invalid_input' });
  });

  it('refuses a socket path longer than a unix socket may have, naming the fix', () => {
    assert.throws(() => renderCaddyConfig(routes, { adminListen: admin, socketDir: `/${'d'.repeat(100)}` }), {
      code: 'invalid_input',
      message: /longer than the 107 bytes/,
    });
    assert.equal(appSocketPath('/s/', 'web'), '/s/web.sock');
  });

  it('proxies round robin to the live instances with retries and health checks', () => {
    const handle = renderCaddyConfig(routes, { adminListen: admin, socketDir, healthInterval: '2s', healthTimeout: '1s' }).apps.http.servers['pvdify-web']?.routes[0]?.handle;
    assert.ok(handle);
    assert.deepEqual(handle[0], { handler: 'vars', pvdify_app: 'web', pvdify_bind_port: 3001, pvdify_health_path: '/health' });
    assert.deepEqual(handle[1], {
      handler: 'reverse_proxy',
      upstreams: [{ dial: '127.0.0.1:4001' }, { dial: '127.0.0.1:4002' }, { dial: '127.0.0.1:4003' }],
      headers: {
        request: {
          set: {
            'X-Forwarded-For': ['{http.request.header.X-Forwarded-For}'],
            'X-Forwarded-Proto': ['{http.request.header.X-Forwarded-Proto}'],
            'X-Forwarded-Host': ['{http.request.header.X-Forwarded-Host}'],
          },
        },
      },
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
    const handle = renderCaddyConfig(routes, { adminListen: admin, socketDir }).apps.http.servers['pvdify-api']?.routes[0]?.handle;
    assert.ok(handle);
    assert.equal(handle.length, 2);
    assert.equal(handle[1]?.handler, 'static_response');
    assert.equal(handle[1]?.status_code, 503);
    assert.equal(handle[1]?.body, noUpstreamBody('api'));
    assert.match(noUpstreamBody('api'), /app api has no running web instances/);
  });

  it('is deterministic and independent of input order', () => {
    const a = JSON.stringify(renderCaddyConfig(routes, { adminListen: admin, socketDir }));
    const b = JSON.stringify(renderCaddyConfig([...routes].reverse(), { adminListen: admin, socketDir }));
    assert.equal(a, b);
  });

  it('refuses bad durations', () => {
    assert.throws(() => renderCaddyConfig(routes, { adminListen: admin, socketDir, healthInterval: '10 seconds' }), { code: 'invalid_input' });
  });

  it('round-trips through routesFromCaddyConfig', () => {
    const c = JSON.parse(JSON.stringify(renderCaddyConfig(routes, { adminListen: admin, socketDir }))) as unknown;
    assert.deepEqual(routesFromCaddyConfig(c), validateRoutes(routes));
  });
});

describe('renderFrontConfig', () => {
  const routes: RouteSpec[] = [
    { app: 'web', bindPort: 3001, upstreams: [4001, 4002], healthPath: '/health' },
    { app: 'api', bindPort: 3000, upstreams: [], healthPath: '/up' },
  ];
  const frontAdmin = 'unix//var/lib/pvdify/router/front-admin.sock';

  it('listens on each router port and proxies to the app socket, one connection per request', () => {
    const c = renderFrontConfig(routes, { adminListen: frontAdmin, socketDir });
    assert.deepEqual(c.admin, { listen: frontAdmin, config: { persist: false } });
    assert.deepEqual(Object.keys(c.apps.http.servers), ['pvdify-api', 'pvdify-web']);
    assert.deepEqual(c.apps.http.servers['pvdify-web'], {
      listen: ['127.0.0.1:3001'],
      automatic_https: { disable: true },
      routes: [
        {
          handle: [
            {
              handler: 'reverse_proxy',
              upstreams: [{ dial: 'unix//var/lib/pvdify/router/sock/web.sock' }],
              transport: { protocol: 'http', keep_alive: { enabled: false } },
              load_balancing: { try_duration: '10s', try_interval: '50ms' },
            },
          ],
        },
      ],
    });
  });

  it('depends only on the apps and their router ports, not on instances or health paths', () => {
    const moved: RouteSpec[] = routes.map((r) => ({ ...r, upstreams: [5001], healthPath: '/other' }));
    assert.equal(JSON.stringify(renderFrontConfig(moved, { adminListen: frontAdmin, socketDir })), JSON.stringify(renderFrontConfig(routes, { adminListen: frontAdmin, socketDir })));
    const renumbered: RouteSpec[] = routes.map((r) => ({ ...r, bindPort: r.bindPort + 10 }));
    assert.notEqual(JSON.stringify(renderFrontConfig(renumbered, { adminListen: frontAdmin, socketDir })), JSON.stringify(renderFrontConfig(routes, { adminListen: frontAdmin, socketDir })));
  });

  it('refuses an invalid table like the apps tier does', () => {
    assert.throws(() => renderFrontConfig([{ app: 'Bad', bindPort: 3000, upstreams: [], healthPath: '/h' }], { adminListen: frontAdmin, socketDir }), { code: 'invalid_input' });
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
    assert.throws(() => routesFromCaddyConfig(c), { code: 'external_tool', message: /pvdify-x does not listen on one unix socket/ });
    const handle = [{ handler: 'vars', pvdify_app: 'x', pvdify_bind_port: 3000, pvdify_health_path: '/h' }, { handler: 'reverse_proxy', upstreams: [{ dial: '10.0.0.5:80' }] }];
    const d = { apps: { http: { servers: { 'pvdify-x': { listen: ['unix//s/x.sock'], routes: [{ handle }] } } } } };
    assert.throws(() => routesFromCaddyConfig(d), { code: 'external_tool', message: /not 127.0.0.1/ });
    const noPort = [{ handler: 'vars', pvdify_app: 'x', pvdify_health_path: '/h' }];
    const e = { apps: { http: { servers: { 'pvdify-x': { listen: ['unix//s/x.sock'], routes: [{ handle: noPort }] } } } } };
    assert.throws(() => routesFromCaddyConfig(e), { code: 'external_tool', message: /no router port/ });
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
