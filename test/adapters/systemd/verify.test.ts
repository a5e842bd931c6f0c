import assert from 'node:assert/strict';
import { access, constants, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ExternalToolError } from '../../../src/core/errors.ts';
import type { InstanceSpec } from '../../../src/core/ports/runtime.ts';
import {
  instanceUnitName,
  renderDaemonUnit,
  renderInstanceUnit,
  renderRouterUnit,
} from '../../../src/adapters/systemd/unit-file.ts';
import { assertUnitFilesValid, DEFAULT_SYSTEMD_ANALYZE, verifyUnitFiles } from '../../../src/adapters/systemd/verify.ts';

const OPTS = { podmanPath: '/usr/bin/podman', stateDir: '/var/lib/pvdify' };

const SPECS: InstanceSpec[] = [
  {
    app: 'shop', process: 'web', colour: 'blue', index: 1, image: 'ghcr.io/org/shop:v1', command: null,
    hostPort: 4001, envFile: '/var/lib/pvdify/config/shop/current.env', memory: null, cpu: null, release: 1,
  },
  {
    app: 'shop-staging', process: 'worker', colour: 'green', index: 20, image: 'localhost:5000/shop@sha256:' + 'a'.repeat(64),
    command: ['bin/worker', '--queue', 'default'], hostPort: null, envFile: '/var/lib/pvdify/config/shop-staging/current.env',
    memory: '1G', cpu: 2, release: 99,
  },
  {
    app: 'x', process: 'web', colour: 'blue', index: 2, image: 'img with space:"q" 100% $HOME ; \\',
    command: ['sh', '-c', 'echo "$PORT" \'single\' 100% ; exit \\1', ';', '', '$$', '${PATH}', '%n%t', 'tab\tcr\rbell\x07', 'ünïcode ✓'],
    hostPort: 65535, envFile: '/var/lib/pvdify dir/%n/$X.env', memory: '512M', cpu: 0.25, release: 3,
  },
];

describe('systemd-analyze verify', () => {
  let dir: string;
  before(async () => {
    await access(DEFAULT_SYSTEMD_ANALYZE, constants.X_OK).catch(() => {
      throw new Error(`${DEFAULT_SYSTEMD_ANALYZE} is missing: install the systemd package (Debian) to run these tests`);
    });
    for (const bin of ['/usr/bin/podman', '/usr/bin/caddy', '/usr/bin/node']) {
      await access(bin, constants.X_OK).catch(() => {
        throw new Error(`${bin} is missing; verify checks that Exec binaries exist`);
      });
    }
    dir = await mkdtemp(join(tmpdir(), 'pvdify-verify-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function write(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  it('accepts every generated unit, hostile arguments included', async () => {
    const paths: string[] = [];
    for (const s of SPECS) paths.push(await write(instanceUnitName(s), renderInstanceUnit(s, OPTS)));
    paths.push(await write(instanceUnitName({ ...SPECS[0]!, index: 5 }), renderInstanceUnit({ ...SPECS[0]!, index: 5 }, { ...OPTS, user: 'pvdify' })));
    paths.push(await write('pvdify-router.service', renderRouterUnit({ caddyPath: '/usr/bin/caddy', stateDir: '/var/lib/pvdify' })));
    paths.push(await write('pvdify-router-front.service', renderRouterUnit({ caddyPath: '/usr/bin/caddy', stateDir: '/var/lib/pvdify' }, 'front')));
    paths.push(await write('pvdifyd.service', renderDaemonUnit({ nodePath: '/usr/bin/node', repoDir: '/opt/pvdify', user: 'pvdify' })));
    const result = await verifyUnitFiles(paths);
    assert.deepEqual(result, { ok: true, exitCode: 0, diagnostics: [] });
    await assertUnitFilesValid(paths);
  });

  it('catches broken units, including ones systemd only warns about', async () => {
    const good = renderInstanceUnit(SPECS[0]!, OPTS);
    const broken: [string, string, RegExp][] = [
      ['pvdify-b1-web@blue-1.service', good.replace('Restart=always', 'Restart=sometimes'), /restart/i],
      ['pvdify-b2-web@blue-1.service', good.replace('[Service]', '[Service]\nBogusKey=1'), /Unknown key/],
      ['pvdify-b3-web@blue-1.service', renderInstanceUnit(SPECS[0]!, { ...OPTS, podmanPath: '/nonexistent/podman' }), /not executable|No such file/],
      ['pvdify-b4-web@blue-1.service', good.replace('\tghcr.io/org/shop:v1\n', '\t"ghcr.io/org/shop:v1\n'), /Unbalanced quoting/],
      ['pvdify-b5-web@blue-1.service', good.replace('\tghcr.io/org/shop:v1\n', '\t"ghcr.io/org/shop:v1\\q"\n'), /unknown escape/],
    ];
    for (const [name, text, pattern] of broken) {
      assert.notEqual(text, good, `${name}: the breakage was not applied`);
      const path = await write(name, text);
      const result = await verifyUnitFiles([path]);
      assert.equal(result.ok, false, `${name} should fail verification`);
      assert.ok(result.diagnostics.some((d) => pattern.test(d)), `${name}: ${result.diagnostics.join(' | ')}`);
      await assert.rejects(assertUnitFilesValid([path]), ExternalToolError);
    }
  });

  it('reports a missing systemd-analyze as an external tool error', async () => {
    await assert.rejects(verifyUnitFiles([join(dir, 'x.service')], { systemdAnalyzePath: join(dir, 'no-such-binary') }), ExternalToolError);
  });
});
