import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ExternalToolError, InvalidInputError } from '../../../src/core/errors.ts';
import {
  createSystemctl,
  parseListUnits,
  parseShowBlocks,
  parseShowOutput,
  parseSystemdTimestamp,
  type Systemctl,
} from '../../../src/adapters/systemd/systemctl.ts';
import { createSystemctlStub, type SystemctlStub } from '../../support/systemctl-stub/index.ts';

describe('systemctl output parsing', () => {
  it('parses key=value lines, keeping = inside values', () => {
    const text = [
      'Id=pvdify-shop-web@blue-1.service',
      'ActiveState=active',
      'ExecMainStatus=0',
      'Environment=PODMAN_SYSTEMD_UNIT=pvdify-shop-web@blue-1.service',
      'ActiveEnterTimestamp=',
      'not a property line',
      '',
    ].join('\n');
    assert.deepEqual(parseShowOutput(text), {
      Id: 'pvdify-shop-web@blue-1.service',
      ActiveState: 'active',
      ExecMainStatus: '0',
      Environment: 'PODMAN_SYSTEMD_UNIT=pvdify-shop-web@blue-1.service',
      ActiveEnterTimestamp: '',
    });
  });

  it('splits multi-unit show output into blocks', () => {
    const blocks = parseShowBlocks('Id=a.service\nActiveState=active\n\nId=b.service\nActiveState=failed\n');
    assert.deepEqual(blocks, [
      { Id: 'a.service', ActiveState: 'active' },
      { Id: 'b.service', ActiveState: 'failed' },
    ]);
  });

  it('parses list-units rows, with and without the failed marker', () => {
    const text = [
      'pvdify-shop-web@blue-1.service   loaded active running pvdify shop web.1 (blue, release v7)',
      '● pvdify-shop-web@blue-2.service loaded failed failed  pvdify shop web.2 (blue, release v7)',
      '',
    ].join('\n');
    assert.deepEqual(parseListUnits(text), [
      { unit: 'pvdify-shop-web@blue-1.service', load: 'loaded', active: 'active', sub: 'running', description: 'pvdify shop web.1 (blue, release v7)' },
      { unit: 'pvdify-shop-web@blue-2.service', load: 'loaded', active: 'failed', sub: 'failed', description: 'pvdify shop web.2 (blue, release v7)' },
    ]);
  });

  it('parses systemd timestamps into ISO', () => {
    assert.equal(parseSystemdTimestamp('@1736244000'), '2025-01-07T10:00:00.000Z');
    assert.equal(parseSystemdTimestamp('@1736244000.250000'), '2025-01-07T10:00:00.250Z');
    assert.equal(parseSystemdTimestamp('Tue 2025-01-07 10:00:00 UTC'), '2025-01-07T10:00:00.000Z');
    assert.equal(parseSystemdTimestamp('Tue 2025-01-07 10:00:00.123456 UTC'), '2025-01-07T10:00:00.123Z');
    for (const v of [undefined, '', 'n/a', '@0', 'Tue 2025-01-07 11:00:00 CET', 'garbage']) {
      assert.equal(parseSystemdTimestamp(v), null, String(v));
    }
  });
});

describe('systemctl adapter (recording stub)', () => {
  let stub: SystemctlStub;
  let unitDir: string;
  let systemctl: Systemctl;
  const unit = 'pvdify-shop-web@blue-1.service';

  before(async () => {
    unitDir = await mkdtemp(join(tmpdir(), 'pvdify-systemctl-units-'));
    await writeFile(join(unitDir, unit), '[Service]\nExecStart=/bin/true\n');
    stub = await createSystemctlStub({ unitDir });
    systemctl = createSystemctl({ path: stub.path, env: stub.env });
  });
  after(async () => {
    await stub.cleanup();
    await rm(unitDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await stub.clearCalls();
  });

  it('passes each verb as argv, with -- before unit names', async () => {
    await systemctl.daemonReload();
    await systemctl.enable(unit);
    await systemctl.start(unit);
    await systemctl.restart(unit);
    await systemctl.stop(unit);
    await systemctl.enable(unit, { now: true });
    await systemctl.disable(unit, { now: true });
    assert.deepEqual(await stub.argvs(), [
      ['daemon-reload'],
      ['enable', '--', unit],
      ['start', '--', unit],
      ['restart', '--', unit],
      ['stop', '--', unit],
      ['enable', '--now', '--', unit],
      ['disable', '--now', '--', unit],
    ]);
  });

  it('reports state through show and is-active', async () => {
    const t0 = Date.now();
    await systemctl.start(unit);
    assert.equal(await systemctl.isActive(unit), true);
    const props = await systemctl.show(unit, ['ActiveState', 'SubState', 'NRestarts', 'MainPID', 'ActiveEnterTimestamp', 'LoadState']);
    assert.equal(props.Id, unit);
    assert.equal(props.ActiveState, 'active');
    assert.equal(props.SubState, 'running');
    assert.equal(props.LoadState, 'loaded');
    assert.equal(props.NRestarts, '0');
    assert.ok(Number(props.MainPID) > 0);
    const since = parseSystemdTimestamp(props.ActiveEnterTimestamp);
    assert.ok(since !== null && Date.parse(since) >= Math.floor(t0 / 1000) * 1000 - 1000, String(props.ActiveEnterTimestamp));
    const calls = await stub.argvs();
    assert.deepEqual(calls.at(-1), [
      'show', '--timestamp=unix', '--property=Id,ActiveState,SubState,NRestarts,MainPID,ActiveEnterTimestamp,LoadState', '--', unit,
    ]);

    await systemctl.stop(unit);
    assert.equal(await systemctl.isActive(unit), false);
    assert.equal((await systemctl.show(unit)).ActiveState, 'inactive');
  });

  it('shows several units in one call, unknown ones as not-found', async () => {
    await systemctl.start(unit);
    const map = await systemctl.showMany([unit, 'pvdify-shop-web@blue-9.service']);
    assert.equal(map.get(unit)?.ActiveState, 'active');
    assert.equal(map.get('pvdify-shop-web@blue-9.service')?.LoadState, 'not-found');
    assert.equal((await stub.argvs()).filter((a) => a[0] === 'show').length, 1);
  });

  it('lists units matching a pattern', async () => {
    await systemctl.start(unit);
    const rows = await systemctl.listUnits('pvdify-shop-*');
    assert.deepEqual(rows.map((r) => [r.unit, r.active, r.sub]), [[unit, 'active', 'running']]);
    assert.deepEqual(await systemctl.listUnits('pvdify-other-*'), []);
    assert.deepEqual((await stub.argvs()).at(-1), ['list-units', '--all', '--plain', '--no-legend', '--no-pager', '--', 'pvdify-other-*']);
  });

  it('turns a failing call into ExternalToolError with systemctl’s message', async () => {
    const err = await systemctl.start('pvdify-missing-web@blue-1.service').catch((e: unknown) => e);
    assert.ok(err instanceof ExternalToolError);
    assert.equal(err.tool, 'systemctl');
    assert.match(err.message, /systemctl start pvdify-missing-web@blue-1\.service failed: .*not found/);
  });

  it('refuses unit names and properties that are not names, before running anything', async () => {
    await assert.rejects(systemctl.start('--force'), InvalidInputError);
    await assert.rejects(systemctl.start('a b.service'), InvalidInputError);
    await assert.rejects(systemctl.show(unit, ['Active State']), InvalidInputError);
    await assert.rejects(systemctl.listUnits('--all'), InvalidInputError);
    assert.deepEqual(await stub.argvs(), []);
  });

  it('reports a missing binary as ExternalToolError', async () => {
    const missing = createSystemctl({ path: join(unitDir, 'no-systemctl') });
    await assert.rejects(missing.daemonReload(), ExternalToolError);
  });
});
