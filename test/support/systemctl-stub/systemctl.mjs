#!/usr/bin/env node
// Recording stand-in for `systemctl` (systemd cannot run as PID 1 on the test machines).
// Each call appends {"argv": [...]} to $PVDIFY_SYSTEMCTL_STUB_LOG. Unit state lives in the JSON
// file $PVDIFY_SYSTEMCTL_STUB_STATE so start → active, stop → inactive across calls. When
// $PVDIFY_SYSTEMCTL_STUB_UNIT_DIR is set, a unit is loadable only if its file exists there, and
// starting a unit whose file changed since the last daemon-reload prints systemd's warning and
// records it (`staleStart`), so tests can prove the caller reloads before starting.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = process.env;
const logPath = env.PVDIFY_SYSTEMCTL_STUB_LOG;
const statePath = env.PVDIFY_SYSTEMCTL_STUB_STATE;
const unitDir = env.PVDIFY_SYSTEMCTL_STUB_UNIT_DIR;
if (!logPath || !statePath) {
  process.stderr.write('systemctl stub: PVDIFY_SYSTEMCTL_STUB_LOG and PVDIFY_SYSTEMCTL_STUB_STATE must be set\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
const record = { argv };
const state = existsSync(statePath) ? JSON.parse(readFileSync(statePath, 'utf8')) : {};
state.units ??= {};
state.behaviour ??= {};
state.reloaded ??= {};
state.pid ??= 1000;

function save() {
  const tmp = `${statePath}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2));
  renameSync(tmp, statePath);
  appendFileSync(logPath, `${JSON.stringify(record)}\n`);
}

function finish(code, stdout = '', stderr = '') {
  save();
  if (stdout) process.stdout.write(stdout);
  if (stderr) process.stderr.write(stderr);
  process.exit(code);
}

const options = [];
const words = [];
let endOfOptions = false;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (endOfOptions || !a.startsWith('-')) words.push(a);
  else if (a === '--') endOfOptions = true;
  else if (a === '-p' || a === '--property') options.push(`--property=${argv[++i]}`);
  else if (a.startsWith('-p')) options.push(`--property=${a.slice(2)}`);
  else options.push(a);
}
const [verb, ...units] = words;
const has = (opt) => options.includes(opt);
const now = () => Math.floor(Date.now() / 1000);

function fileText(unit) {
  if (!unitDir) return '';
  const p = join(unitDir, unit);
  return existsSync(p) ? readFileSync(p, 'utf8') : null;
}
const hash = (text) => createHash('sha256').update(text).digest('hex');
const loadable = (unit) => fileText(unit) !== null;

function unitState(unit) {
  state.units[unit] ??= {
    ActiveState: 'inactive',
    SubState: 'dead',
    Result: 'success',
    NRestarts: 0,
    MainPID: 0,
    ActiveEnterTimestamp: 0,
    StateChangeTimestamp: 0,
    enabled: false,
  };
  return state.units[unit];
}

function setActive(u) {
  u.ActiveState = 'active';
  u.SubState = 'running';
  u.Result = 'success';
  u.MainPID = ++state.pid;
  u.ActiveEnterTimestamp = now();
  u.StateChangeTimestamp = now();
}

function setInactive(u) {
  u.ActiveState = 'inactive';
  u.SubState = 'dead';
  u.MainPID = 0;
  u.StateChangeTimestamp = now();
}

function checkStale(unit) {
  const text = fileText(unit);
  if (text === null || state.reloaded[unit] === undefined) return '';
  if (state.reloaded[unit] === hash(text)) return '';
  record.staleStart = unit;
  return `Warning: The unit file, source configuration file or drop-ins of ${unit} changed on disk. Run 'systemctl daemon-reload' to reload units.\n`;
}

function startUnit(unit, verbName) {
  if (!loadable(unit)) return finish(5, '', `Failed to ${verbName} ${unit}: Unit ${unit} not found.\n`);
  const warning = checkStale(unit);
  const u = unitState(unit);
  const behaviour = state.behaviour[unit]?.onStart;
  if (behaviour === 'fail') {
    u.ActiveState = 'failed';
    u.SubState = 'failed';
    u.Result = 'exit-code';
    u.MainPID = 0;
    u.StateChangeTimestamp = now();
    return finish(
      1,
      '',
      `${warning}Job for ${unit} failed because the control process exited with error code.\nSee "systemctl status ${unit}" and "journalctl -xeu ${unit}" for details.\n`,
    );
  }
  if (behaviour === 'hang') {
    u.ActiveState = 'activating';
    u.SubState = 'start';
    u.StateChangeTimestamp = now();
  } else setActive(u);
  return warning;
}

function timestamp(secs) {
  if (!secs) return '';
  if (has('--timestamp=unix')) return `@${secs}`;
  const d = new Date(secs * 1000);
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()];
  return `${day} ${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function showUnit(unit, properties) {
  const exists = state.units[unit] !== undefined || loadable(unit);
  const u = state.units[unit] ?? unitState(unit);
  if (!exists) delete state.units[unit];
  const values = {
    Id: unit,
    Names: unit,
    LoadState: loadable(unit) ? 'loaded' : 'not-found',
    ActiveState: u.ActiveState,
    SubState: u.SubState,
    Result: u.Result,
    NRestarts: String(u.NRestarts),
    MainPID: String(u.MainPID),
    ActiveEnterTimestamp: timestamp(u.ActiveEnterTimestamp),
    StateChangeTimestamp: timestamp(u.StateChangeTimestamp),
    UnitFileState: u.enabled ? 'enabled' : 'disabled',
  };
  const wanted = properties.length > 0 ? properties : Object.keys(values);
  return wanted.map((p) => `${p}=${values[p] ?? ''}\n`).join('');
}

function globToRegExp(glob) {
  const body = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

switch (verb) {
  case 'daemon-reload': {
    state.reloaded = {};
    for (const unit of Object.keys(state.units)) {
      const text = fileText(unit);
      if (text !== null) state.reloaded[unit] = hash(text);
    }
    record.reloadedUnits = Object.keys(state.reloaded);
    finish(0);
    break;
  }
  case 'start':
  case 'restart': {
    let warnings = '';
    for (const unit of units) {
      warnings += startUnit(unit, verb);
      const text = fileText(unit);
      if (text !== null) state.reloaded[unit] = hash(text);
    }
    finish(0, '', warnings);
    break;
  }
  case 'stop': {
    for (const unit of units) {
      if (!loadable(unit) && state.units[unit] === undefined) {
        finish(5, '', `Failed to stop ${unit}: Unit ${unit} not loaded.\n`);
      }
      setInactive(unitState(unit));
    }
    finish(0);
    break;
  }
  case 'enable':
  case 'disable': {
    for (const unit of units) {
      if (!loadable(unit)) finish(1, '', `Failed to ${verb} unit: Unit file ${unit} does not exist.\n`);
      const u = unitState(unit);
      u.enabled = verb === 'enable';
      if (has('--now')) {
        if (verb === 'enable' && u.ActiveState !== 'active') startUnit(unit, 'start');
        if (verb === 'disable') setInactive(u);
      }
    }
    finish(0);
    break;
  }
  case 'show': {
    const properties = options
      .filter((o) => o.startsWith('--property='))
      .flatMap((o) => o.slice('--property='.length).split(','))
      .filter((p) => p.length > 0);
    finish(0, units.map((unit) => showUnit(unit, properties)).join('\n'));
    break;
  }
  case 'is-active': {
    const u = state.units[units[0]];
    const active = u?.ActiveState ?? 'inactive';
    finish(active === 'active' ? 0 : 3, `${active}\n`);
    break;
  }
  case 'list-units': {
    const patterns = units.map(globToRegExp);
    const rows = Object.entries(state.units)
      .filter(([unit]) => patterns.length === 0 || patterns.some((re) => re.test(unit)))
      .filter(([unit, u]) => has('--all') || u.ActiveState !== 'inactive' || !loadable(unit))
      .map(([unit, u]) => `${unit} ${loadable(unit) ? 'loaded' : 'not-found'} ${u.ActiveState} ${u.SubState} stub unit ${unit}\n`);
    finish(0, rows.join(''));
    break;
  }
  default:
    finish(1, '', `Unknown command verb ${verb}.\n`);
}
