import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../../src/core/errors.ts';
import type { InstanceSpec } from '../../../src/core/ports/runtime.ts';
import {
  instanceContainerName,
  instanceUnitName,
  parseInstanceUnitMetadata,
  parseInstanceUnitName,
  renderDaemonUnit,
  renderInstanceUnit,
  renderRouterUnit,
  systemdQuoteArg,
} from '../../../src/adapters/systemd/unit-file.ts';

const OPTS = { podmanPath: '/usr/bin/podman', stateDir: '/var/lib/pvdify' };

function spec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    app: 'shop',
    process: 'web',
    colour: 'blue',
    index: 1,
    image: 'ghcr.io/org/shop:v1.2.3',
    command: null,
    hostPort: 4001,
    envFile: '/var/lib/pvdify/config/shop/current.env',
    memory: null,
    cpu: null,
    release: 7,
    ...overrides,
  };
}

/** The ExecStart words, with continuation lines joined back (values here contain no spaces). */
function execStartWords(unit: string): string[] {
  const m = /^ExecStart=((?:.*\\\n)*.*)$/m.exec(unit);
  assert.ok(m, 'unit has an ExecStart line');
  return m[1]!.replace(/ \\\n\t/g, ' ').split(' ');
}

describe('instance names', () => {
  it('builds unit and container names and parses the unit name back', () => {
    const ref = { app: 'shop-staging', process: 'worker_2', colour: 'green' as const, index: 12 };
    assert.equal(instanceUnitName(ref), 'pvdify-shop-staging-worker_2@green-12.service');
    assert.equal(instanceContainerName(ref), 'pvdify-shop-staging-worker_2-green-12');
    assert.deepEqual(parseInstanceUnitName(instanceUnitName(ref)), ref);
  });

  it('splits app from process at the last hyphen, even for apps ending in one', () => {
    assert.deepEqual(parseInstanceUnitName('pvdify-a--web@blue-1.service'), { app: 'a-', process: 'web', colour: 'blue', index: 1 });
    assert.deepEqual(parseInstanceUnitName('pvdify-my-app-pr-12-web@blue-3.service'), {
      app: 'my-app-pr-12',
      process: 'web',
      colour: 'blue',
      index: 3,
    });
  });

  it('does not take other units for instances', () => {
    for (const name of [
      'pvdify-router.service',
      'pvdifyd.service',
      'pvdify-shop-web@red-1.service',
      'pvdify-shop-web@blue-0.service',
      'pvdify-shop-web@blue-21.service',
      'pvdify-shop-web@blue-1.service.bak',
      'pvdify-shop-web@.service',
      'pvdify-web@blue-1.service',
      'sshd.service',
    ]) {
      assert.equal(parseInstanceUnitName(name), null, name);
    }
  });

  it('refuses invalid refs before they reach a file name', () => {
    const bad = [
      { app: 'Shop', process: 'web', colour: 'blue', index: 1 },
      { app: '../etc', process: 'web', colour: 'blue', index: 1 },
      { app: 'shop', process: 'web-2', colour: 'blue', index: 1 },
      { app: 'shop', process: 'web', colour: 'red', index: 1 },
      { app: 'shop', process: 'web', colour: 'blue', index: 0 },
      { app: 'shop', process: 'web', colour: 'blue', index: 1.5 },
    ];
    for (const ref of bad) {
      assert.throws(() => instanceUnitName(ref as never), InvalidInputError, JSON.stringify(ref));
    }
  });
});

describe('systemdQuoteArg', () => {
  const cases: [string, string][] = [
    ['plain', 'plain'],
    ['--flag=a,b:c/d@e+f', '--flag=a,b:c/d@e+f'],
    ['', '""'],
    ['two words', '"two words"'],
    ['100%', '"100%%"'],
    ['%n', '"%%n"'],
    ['$HOME', '"$$HOME"'],
    ['${X}', '"$${X}"'],
    ['$$', '"$$$$"'],
    [';', '";"'],
    ['a;b', '"a;b"'],
    ['back\\slash', '"back\\\\slash"'],
    ['ends with \\', '"ends with \\\\"'],
    ['say "hi"', '"say \\"hi\\""'],
    ["it's", '"it\'s"'],
    ['tab\there', '"tab\\there"'],
    ['cr\r', '"cr\\r"'],
    ['bell\x07', '"bell\\x07"'],
    ['héllo wörld ✓', '"héllo wörld ✓"'],
  ];
  for (const [input, expected] of cases) {
    it(`quotes ${JSON.stringify(input)}`, () => {
      assert.equal(systemdQuoteArg(input), expected);
    });
  }

  it('refuses newlines, NUL and lone surrogates', () => {
    assert.throws(() => systemdQuoteArg('a\nb'), InvalidInputError);
    assert.throws(() => systemdQuoteArg('a\0b'), InvalidInputError);
    assert.throws(() => systemdQuoteArg('bad \uD800'), InvalidInputError);
  });
});

describe('renderInstanceUnit', () => {
  it('follows the podman generate systemd --new layout', () => {
    const text = renderInstanceUnit(spec(), OPTS);
    for (const line of [
      '[Unit]',
      'Description=pvdify shop web.1 (blue, release v7)',
      'Wants=network-online.target',
      'After=network-online.target',
      'RequiresMountsFor=%t/containers /var/lib/pvdify',
      '[Service]',
      'Environment=PODMAN_SYSTEMD_UNIT=%n',
      'Restart=always',
      'RestartSec=5',
      'TimeoutStopSec=70',
      'ExecStartPre=/bin/rm -f %t/%n.ctr-id',
      'ExecStop=/usr/bin/podman stop --ignore -t 10 --cidfile=%t/%n.ctr-id',
      'ExecStopPost=/usr/bin/podman rm -f --ignore -t 10 --cidfile=%t/%n.ctr-id',
      'Type=notify',
      'NotifyAccess=all',
      'LogExtraFields=PVDIFY_APP=shop',
      'LogExtraFields=PVDIFY_PROCESS=web',
      '[Install]',
      'WantedBy=multi-user.target',
    ]) {
      assert.ok(text.split('\n').includes(line), `missing line: ${line}`);
    }
    assert.deepEqual(execStartWords(text), [
      '/usr/bin/podman', 'run', '--cidfile=%t/%n.ctr-id', '--cgroups=no-conmon', '--rm', '--sdnotify=conmon',
      '--replace', '-d', '--log-driver=journald', '--name', 'pvdify-shop-web-blue-1',
      '--label', 'pvdify.app=shop', '--label', 'pvdify.process=web', '--label', 'pvdify.colour=blue',
      '--label', 'pvdify.index=1', '--label', 'pvdify.release=7',
      '--env-file', '/var/lib/pvdify/config/shop/current.env', '--env', 'PORT=3000',
      '-p', '127.0.0.1:4001:3000', 'ghcr.io/org/shop:v1.2.3',
    ]);
    assert.ok(!/^User=/m.test(text));
  });

  it('adds resources and the command after the image, and leaves out the port for workers', () => {
    const text = renderInstanceUnit(
      spec({ process: 'worker', hostPort: null, memory: '512M', cpu: 0.5, command: ['bin/worker', '--queue=default'] }),
      { ...OPTS, user: 'pvdify' },
    );
    const words = execStartWords(text);
    assert.ok(!words.includes('-p'));
    assert.deepEqual(words.slice(-7), ['--memory', '512M', '--cpus', '0.5', 'ghcr.io/org/shop:v1.2.3', 'bin/worker', '--queue=default']);
    assert.match(text, /^User=pvdify$/m);
  });

  it('quotes hostile image, env file and command arguments', () => {
    const text = renderInstanceUnit(
      spec({ image: 'img:"x" %n', envFile: '/var/lib/pvdify dir/$A.env', command: ['sh', '-c', 'echo "$PORT" 100% ; \\'] }),
      OPTS,
    );
    assert.match(text, /\t--env-file "\/var\/lib\/pvdify dir\/\$\$A\.env" \\\n/);
    assert.match(text, /\t"img:\\"x\\" %%n" \\\n/);
    assert.match(text, /\t"echo \\"\$\$PORT\\" 100%% ; \\\\"\n/);
  });

  it('refuses values that cannot be rendered safely', () => {
    const bad: [Partial<InstanceSpec>, object?][] = [
      [{ command: ['echo', 'two\nlines'] }],
      [{ image: '--privileged' }],
      [{ image: '' }],
      [{ envFile: 'relative.env' }],
      [{ memory: '1T' }],
      [{ cpu: 0 }],
      [{ cpu: Number.NaN }],
      [{ hostPort: 70000 }],
      [{ hostPort: 80 }],
      [{ release: 0 }],
      [{}, { podmanPath: 'podman' }],
      [{}, { podmanPath: '-/usr/bin/podman' }],
      [{}, { user: 'root; rm' }],
      [{}, { stateDir: 'var/lib' }],
    ];
    for (const [overrides, opts] of bad) {
      assert.throws(() => renderInstanceUnit(spec(overrides), { ...OPTS, ...opts }), InvalidInputError, JSON.stringify([overrides, opts]));
    }
  });

  it('records what list() needs and reads it back', () => {
    const s = spec({ image: 'weird "image" %n\\', hostPort: null, release: 42, colour: 'green', index: 3 });
    const meta = parseInstanceUnitMetadata(renderInstanceUnit(s, OPTS));
    assert.deepEqual(meta, { app: 'shop', process: 'web', colour: 'green', index: 3, release: 42, image: s.image, hostPort: null });
    assert.equal(parseInstanceUnitMetadata('[Unit]\nDescription=hand written\n'), null);
    assert.equal(parseInstanceUnitMetadata('X-Pvdify-Instance={not json\n'), null);
    assert.equal(parseInstanceUnitMetadata('X-Pvdify-Instance={"app":"a"}\n'), null);
  });

  it('leaves a state dir that cannot be a RequiresMountsFor word out of that line', () => {
    const text = renderInstanceUnit(spec(), { ...OPTS, stateDir: '/srv/pvdify state' });
    assert.match(text, /^RequiresMountsFor=%t\/containers$/m);
  });
});

describe('router and daemon units', () => {
  it('runs caddy on the generated config', () => {
    const text = renderRouterUnit({ caddyPath: '/usr/bin/caddy', stateDir: '/var/lib/pvdify' });
    assert.match(text, /^ExecStart=\/usr\/bin\/caddy run --config \/var\/lib\/pvdify\/router\/caddy\.json$/m);
    assert.match(text, /^Restart=always$/m);
    assert.match(text, /^WantedBy=multi-user\.target$/m);
  });

  it('runs the front tier on its own config, after the apps tier', () => {
    const text = renderRouterUnit({ caddyPath: '/usr/bin/caddy', stateDir: '/var/lib/pvdify' }, 'front');
    assert.match(text, /^# pvdify-router-front\.service: generated by pvdify\.$/m);
    assert.match(text, /^ExecStart=\/usr\/bin\/caddy run --config \/var\/lib\/pvdify\/router\/front\.json$/m);
    assert.match(text, /^After=network-online\.target pvdify-router\.service$/m);
    assert.match(text, /^Restart=always$/m);
  });

  it('runs the daemon from the checkout with an optional env file and user', () => {
    const text = renderDaemonUnit({ nodePath: '/usr/bin/node', repoDir: '/opt/pvdify/', user: 'pvdify' });
    assert.match(text, /^ExecStart=\/usr\/bin\/node \/opt\/pvdify\/bin\/pvdifyd\.js serve$/m);
    assert.match(text, /^EnvironmentFile=-\/etc\/pvdify\/pvdifyd\.env$/m);
    assert.match(text, /^User=pvdify$/m);
    assert.match(text, /^WorkingDirectory=\/opt\/pvdify$/m);
    assert.ok(!/^User=/m.test(renderDaemonUnit({ nodePath: '/usr/bin/node', repoDir: '/opt/pvdify' })));
  });
});
