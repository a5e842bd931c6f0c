/**
 * The systemd supervisor against real systemd: PID 1 in a Podman container with Podman inside
 * (test/support/systemd-host). Units come from our renderer, state from real `systemctl show`,
 * logs from real `journalctl -o json`. Slow on the first run (the host image is built once).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InstanceSpec, InstanceState, LogLine } from '../../../src/core/ports/runtime.ts';
import { parseJournalOutput } from '../../../src/adapters/journald/journal.ts';
import { parseShowOutput, type UnitProperties } from '../../../src/adapters/systemd/systemctl.ts';
import { instanceContainerName, instanceUnitName, renderInstanceUnit } from '../../../src/adapters/systemd/unit-file.ts';
import {
  bootSystemdHost,
  ensureSystemdHostImage,
  INNER_BUSYBOX_IMAGE,
  INSIDE_CONTRACT_PATH,
  INSIDE_ENV,
  REPO_ROOT,
  type DriverAnswer,
  type SystemdHost,
} from '../../support/systemd-host/systemd-host.ts';

// Hostile on purpose: every systemd quoting rule (%, $, quotes, backslash, ;) is in here.
const ENV_FILE = '/var/lib/pvdify/config/demo/cur rent %n $HOME.env';
const HOSTILE_ARG = '100% $HOME "q" \'s\' ; \\ ${PATH} %n';
const SCRIPT = [
  'trap "echo stopping; exit 0" TERM',
  'echo "demo ready port=$PORT greeting=$GREETING arg=$1"',
  // A byte that is not UTF-8: journald stores the message as an array of numbers.
  'printf "raw \\377 byte\\n"',
  '/bin/busybox mkdir -p /tmp/www',
  'echo "release $2" > /tmp/www/index.html',
  '/bin/busybox httpd -f -p "$PORT" -h /tmp/www & wait',
].join('; ');

function webSpec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    app: 'demo',
    process: 'web',
    colour: 'blue',
    index: 1,
    image: INNER_BUSYBOX_IMAGE,
    command: ['/bin/busybox', 'sh', '-c', SCRIPT, 'sh', HOSTILE_ARG, String(overrides.release ?? 1)],
    hostPort: 4001,
    envFile: ENV_FILE,
    memory: '64M',
    cpu: 0.5,
    release: 1,
    ...overrides,
  };
}

function ok<T>(answer: DriverAnswer): T {
  if (!answer.ok) assert.fail(`driver failed: ${answer.error.name} ${answer.error.code ?? ''}: ${answer.error.message}`);
  return answer.result as T;
}

describe('systemd supervisor on real systemd', { timeout: 20 * 60_000 }, () => {
  let host: SystemdHost;
  const web = webSpec();
  const unit = instanceUnitName(web);
  const container = instanceContainerName(web);

  async function show(u: string): Promise<UnitProperties> {
    return parseShowOutput(
      await host.run(['systemctl', 'show', '--timestamp=unix', '-p', 'ActiveState,SubState,NRestarts,MainPID,LoadState,NeedDaemonReload', u]),
    );
  }

  before(async () => {
    const t0 = Date.now();
    const image = await ensureSystemdHostImage();
    const t1 = Date.now();
    host = await bootSystemdHost();
    console.log(`systemd host image ${image.built ? 'built' : 'reused'} in ${t1 - t0} ms, booted and set up in ${Date.now() - t1} ms`);
    await host.writeFile(ENV_FILE, 'GREETING=hello from env\n', 0o600);
  });
  after(async () => {
    await host?.dispose();
  });

  it('hands every ExecStart argument to the program byte for byte', async () => {
    const recorder = '/usr/local/bin/pvdify-argv-recorder';
    await host.writeFile(
      recorder,
      '#!/bin/sh\nif [ "$1" = run ]; then for a in "$@"; do printf \'%s\\0\' "$a"; done > /run/pvdify-argv.bin; fi\nexit 1\n',
      0o755,
    );
    const hostile: InstanceSpec = webSpec({
      app: 'quoting',
      image: 'img with space:"q" 100% $HOME ; \\',
      command: ['sh', '-c', 'echo "$PORT" \'single\' 100% ; exit \\1', ';', '', '$$', '${PATH}', '$PODMAN_SYSTEMD_UNIT',
        '%n%t', 'tab\tcr\rbell\x07', 'ünïcode ✓', '\\', '"', "'"],
    });
    const u = instanceUnitName(hostile);
    await host.writeFile(`/etc/systemd/system/${u}`, renderInstanceUnit(hostile, { podmanPath: recorder, stateDir: '/var/lib/pvdify' }));
    await host.run(['systemctl', 'daemon-reload']);
    // The recorder exits 1, so the start job fails: only its argv matters here.
    await host.exec(['systemctl', 'start', u]);
    const argv = (await host.run(['cat', '/run/pvdify-argv.bin'])).split('\0').slice(0, -1);
    await host.run(['systemctl', 'stop', u]);
    await host.run(['rm', '-f', `/etc/systemd/system/${u}`]);
    await host.run(['systemctl', 'daemon-reload']);
    await host.exec(['systemctl', 'reset-failed', u]);

    assert.deepEqual(argv, [
      'run', `--cidfile=/run/${u}.ctr-id`, '--cgroups=no-conmon', '--rm', '--sdnotify=conmon', '--replace', '-d',
      '--log-driver=journald', '--name', instanceContainerName(hostile),
      '--label', 'pvdify.app=quoting', '--label', 'pvdify.process=web', '--label', 'pvdify.colour=blue',
      '--label', 'pvdify.index=1', '--label', 'pvdify.release=1',
      '--env-file', ENV_FILE, '--env', 'PORT=3000', '-p', '127.0.0.1:4001:3000', '--memory', '64M', '--cpus', '0.5',
      hostile.image, ...hostile.command!,
    ]);
  });

  it('starts an instance: unit active and enabled, container running with its labels', async () => {
    ok(await host.driver('start', web));
    const props = await show(unit);
    assert.equal(props.ActiveState, 'active');
    assert.equal(props.SubState, 'running');
    assert.equal(props.LoadState, 'loaded');
    assert.equal(props.NeedDaemonReload, 'no');
    assert.ok(Number(props.MainPID) > 0);
    assert.equal((await host.run(['systemctl', 'is-enabled', unit])).trim(), 'enabled');
    const label = await host.run(['podman', 'inspect', '--format', '{{index .Config.Labels "pvdify.release"}}', container]);
    assert.equal(label.trim(), '1');

    const [inst, ...rest] = ok<InstanceState[]>(await host.driver('list', 'demo'));
    assert.equal(rest.length, 0);
    assert.deepEqual(
      { ...inst, since: undefined },
      {
        app: 'demo', process: 'web', colour: 'blue', index: 1, state: 'running', name: container, hostPort: 4001,
        release: 1, image: INNER_BUSYBOX_IMAGE, since: undefined, restarts: 0,
      },
    );
    assert.ok(inst!.since !== null && Math.abs(Date.parse(inst!.since) - Date.now()) < 5 * 60_000, String(inst!.since));

    // The published port answers inside the systemd host (see INNER_SUBNET in the harness).
    assert.deepEqual(ok(await host.driver('http-get', { port: 4001, path: '/' })), { status: 200, body: 'release 1\n' });

    const viaAdapter = ok<UnitProperties>(await host.driver('show', { unit, properties: ['ActiveState', 'MainPID', 'ActiveEnterTimestamp'] }));
    assert.equal(viaAdapter.ActiveState, 'active');
    assert.match(viaAdapter.ActiveEnterTimestamp ?? '', /^@\d+$/);
    assert.equal(ok<boolean>(await host.driver('is-active', unit)), true);
    const units = ok<{ unit: string; active: string }[]>(await host.driver('list-units', 'pvdify-demo-*'));
    assert.deepEqual(units.map((u) => [u.unit, u.active]), [[unit, 'active']]);
  });

  it('Restart=always brings a killed container back', async () => {
    const pid = (await host.run(['podman', 'inspect', '--format', '{{.State.Pid}}', container])).trim();
    assert.match(pid, /^[1-9]\d*$/);
    await host.run(['/bin/busybox', 'kill', '-9', pid]);
    const deadline = Date.now() + 60_000;
    let props = await show(unit);
    while (!(Number(props.NRestarts) >= 1 && props.ActiveState === 'active')) {
      assert.ok(Date.now() < deadline, `no restart within 60 s: ${JSON.stringify(props)}`);
      await sleep(500);
      props = await show(unit);
    }
    const [inst] = ok<InstanceState[]>(await host.driver('list', 'demo'));
    assert.equal(inst?.state, 'running');
    assert.ok((inst?.restarts ?? 0) >= 1);
    const newPid = (await host.run(['podman', 'inspect', '--format', '{{.State.Pid}}', container])).trim();
    assert.notEqual(newPid, pid);
  });

  it('reads the instance’s journal: app output in, podman bookkeeping out', async () => {
    const expected = `demo ready port=3000 greeting=hello from env arg=${HOSTILE_ARG}`;
    // The restarted container's first lines may still be on their way to journald.
    let lines: LogLine[] = [];
    for (let i = 0; i < 20; i++) {
      lines = ok<LogLine[]>(await host.driver('logs', { app: 'demo', lines: 50 }));
      if (lines.filter((l) => l.message === expected).length >= 2) break;
      await sleep(500);
    }
    assert.equal(lines.filter((l) => l.message === expected).length, 2, JSON.stringify(lines, null, 1));
    const mine = lines.find((l) => l.message === expected)!;
    assert.equal(mine.source, container);
    assert.ok(mine.time !== null && !Number.isNaN(Date.parse(mine.time)));
    assert.ok(lines.some((l) => l.message === 'raw \uFFFD byte'), 'non-UTF-8 output decoded');
    assert.ok(!lines.some((l) => /container (create|init|start|died|remove) /.test(l.message)), 'podman events filtered');

    const byProcess = ok<LogLine[]>(await host.driver('logs', { app: 'demo', lines: 1, process: 'web' }));
    assert.equal(byProcess.length, 1);
    assert.deepEqual(ok<LogLine[]>(await host.driver('logs', { app: 'demo', lines: 10, process: 'worker' })), []);

    // The raw journal of the unit, parsed on this side.
    const raw = parseJournalOutput(await host.run(['journalctl', '-u', unit, '-o', 'json', '-n', '300', '--no-pager']));
    assert.ok(raw.length > 5);
    assert.ok(raw.every((e) => e.time !== null));
    assert.ok(raw.some((e) => e.source === container && e.message === expected));
    assert.ok(raw.some((e) => e.fields.PODMAN_EVENT !== undefined), 'podman events are in the raw journal');
    assert.ok(raw.some((e) => e.source === unit && e.fields._SYSTEMD_UNIT === 'init.scope'), 'systemd’s own messages name the unit');
    const binary = raw.find((e) => e.message === 'raw \uFFFD byte');
    assert.ok(binary, 'the non-UTF-8 line parsed');
  });

  it('replaces a running instance with a new release', async () => {
    ok(await host.driver('start', webSpec({ release: 2 })));
    const props = await show(unit);
    assert.equal(props.ActiveState, 'active');
    assert.equal(props.NeedDaemonReload, 'no');
    const label = await host.run(['podman', 'inspect', '--format', '{{index .Config.Labels "pvdify.release"}}', container]);
    assert.equal(label.trim(), '2');
    const [inst] = ok<InstanceState[]>(await host.driver('list', 'demo'));
    assert.equal(inst?.release, 2);
    assert.deepEqual(ok(await host.driver('http-get', { port: 4001, path: '/' })), { status: 200, body: 'release 2\n' });
    ok(await host.driver('restart', web));
    assert.equal((await show(unit)).ActiveState, 'active');
  });

  it('reports an instance that cannot start, with its state and podman’s error in the logs', async () => {
    const broken = webSpec({ process: 'worker', hostPort: null, image: 'localhost/pvdify-does-not-exist:v0', command: null });
    const answer = await host.driver('start', broken);
    assert.equal(answer.ok, false);
    if (answer.ok) return;
    assert.equal(answer.error.code, 'external_tool');
    assert.match(answer.error.message, /pvdify-demo-worker@blue-1\.service .*ActiveState=(failed|activating)/);
    const logs = ok<LogLine[]>(await host.driver('logs', { app: 'demo', lines: 20, ref: broken }));
    assert.ok(logs.some((l) => /pvdify-does-not-exist/.test(l.message)), JSON.stringify(logs, null, 1));
    ok(await host.driver('stop', broken));
    assert.deepEqual(ok<InstanceState[]>(await host.driver('list', 'demo')).map((i) => i.process), ['web']);
  });

  it('stops: container gone, unit disabled and removed; stopping again is harmless', async () => {
    ok(await host.driver('stop', web));
    assert.notEqual((await host.exec(['podman', 'container', 'exists', container])).exitCode, 0);
    assert.notEqual((await host.exec(['test', '-e', `/etc/systemd/system/${unit}`])).exitCode, 0);
    assert.notEqual((await host.exec(['test', '-e', `/etc/systemd/system/multi-user.target.wants/${unit}`])).exitCode, 0);
    assert.deepEqual(ok<InstanceState[]>(await host.driver('list', 'demo')), []);
    ok(await host.driver('stop', web));
    // The app has no instances now; the stopped one's lines are still there when asked for by ref.
    assert.deepEqual(ok<LogLine[]>(await host.driver('logs', { app: 'demo', lines: 5 })), []);
    assert.ok(ok<LogLine[]>(await host.driver('logs', { app: 'demo', lines: 5, ref: web })).length > 0);
  });

  it('passes the shared Supervisor contract (run inside the systemd host)', async () => {
    const r = await host.exec(['node', '--import', 'tsx', '--test', '--test-reporter=tap', INSIDE_CONTRACT_PATH], {
      workdir: REPO_ROOT,
      env: INSIDE_ENV,
      timeoutMs: 10 * 60_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    const count = (label: string) => Number(new RegExp(`^# ${label} (\\d+)$`, 'm').exec(r.stdout)?.[1] ?? -1);
    console.log(`contract inside the systemd host: ${count('pass')} passed, ${count('fail')} failed`);
    assert.equal(r.exitCode, 0, out.slice(-6000));
    assert.ok(count('pass') >= 9, out.slice(-3000));
    assert.equal(count('fail'), 0);
  });
});
