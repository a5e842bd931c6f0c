/**
 * The production Supervisor: each instance is a systemd unit whose ExecStart is `podman run`.
 * systemd restarts crashed containers (`Restart=always`) and brings them back after a reboot
 * (units are enabled); this module writes the unit files and drives systemctl.
 */
import { access, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConflictError,
  ExternalToolError,
  InvalidInputError,
  NotFoundError,
  StateUnwritableError,
} from '../../core/errors.ts';
import { IMAGE_REF_RE } from '../../core/names.ts';
import { silentLogger, type Logger } from '../../core/ports/clock.ts';
import type {
  InstanceActiveState,
  InstanceRef,
  InstanceSpec,
  InstanceState,
  InstanceStats,
  LogLine,
  Supervisor,
} from '../../core/ports/runtime.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { isPodmanNoise, type Journal } from '../journald/journal.ts';
import { compareInstances, isPortFree } from '../podman/instance-spec.ts';
import { DEFAULT_SHOW_PROPERTIES, parseSystemdTimestamp, type Systemctl, type UnitProperties } from './systemctl.ts';
import {
  instanceContainerName,
  instanceUnitName,
  parseInstanceUnitMetadata,
  parseInstanceUnitName,
  renderInstanceUnit,
  type InstanceUnitMetadata,
} from './unit-file.ts';

export const DEFAULT_UNIT_DIR = '/etc/systemd/system';

export interface SystemdSupervisorOptions {
  /** Where unit files are written; `/etc/systemd/system` on a VPS. */
  unitDir?: string;
  systemctl: Systemctl;
  journal: Journal;
  /** Absolute path of podman, written into the units. */
  podmanPath: string;
  stateDir: string;
  /** Run podman as this user (see renderInstanceUnit). */
  user?: string;
  log?: Logger;
  /** Resource usage by container name (the podman adapter's `stats`); omitted → all null. */
  stats?: (names: string[]) => Promise<InstanceStats[]>;
  /** How long `start`/`restart` wait for ActiveState=active after systemctl returns. */
  startTimeoutMs?: number;
  pollIntervalMs?: number;
}

// The state of an instance unit is exactly what `show` reports by default.
const STATE_PROPERTIES = DEFAULT_SHOW_PROPERTIES;

/** systemd's ActiveState (and SubState) in the port's vocabulary. */
export function instanceStateFromUnit(props: UnitProperties): InstanceActiveState {
  if (props.LoadState === 'not-found') return 'stopped';
  switch (props.ActiveState) {
    case 'active':
    case 'reloading':
      return 'running';
    case 'activating':
      return 'starting';
    case 'deactivating':
      return 'stopping';
    case 'inactive':
      return 'stopped';
    case 'failed':
      return 'failed';
    default:
      return 'unknown';
  }
}

function describeUnitState(props: UnitProperties): string {
  const parts = [`ActiveState=${props.ActiveState ?? '?'}`, `SubState=${props.SubState ?? '?'}`];
  if (props.Result !== undefined && props.Result !== 'success') parts.push(`Result=${props.Result}`);
  if (props.LoadState !== undefined && props.LoadState !== 'loaded') parts.push(`LoadState=${props.LoadState}`);
  return parts.join(' ');
}

export function createSystemdSupervisor(opts: SystemdSupervisorOptions): Supervisor {
  const unitDir = opts.unitDir ?? DEFAULT_UNIT_DIR;
  const { systemctl, journal } = opts;
  const log = (opts.log ?? silentLogger).child({ component: 'systemd-supervisor' });
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const pollIntervalMs = opts.pollIntervalMs ?? 250;

  /** The unit file's metadata: undefined when there is no file, null when it has none. */
  async function readUnitMetadata(unit: string): Promise<InstanceUnitMetadata | null | undefined> {
    let text: string;
    try {
      text = await readFile(join(unitDir, unit), 'utf8');
    } catch {
      return undefined;
    }
    return parseInstanceUnitMetadata(text);
  }

  async function unitFileExists(unit: string): Promise<boolean> {
    return access(join(unitDir, unit)).then(
      () => true,
      () => false,
    );
  }

  async function waitActive(unit: string): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      const props = await systemctl.show(unit, STATE_PROPERTIES);
      if (props.ActiveState === 'active') return;
      // `failed` is final; anything else (activating, auto-restart) may still come up.
      if (props.ActiveState === 'failed' || Date.now() >= deadline) {
        throw new ExternalToolError(
          'systemctl',
          `${unit} did not become active: ${describeUnitState(props)}`,
          `see \`journalctl -u ${unit}\``,
        );
      }
      await sleep(pollIntervalMs);
    }
  }

  async function startAndWait(unit: string, verb: 'start' | 'restart'): Promise<void> {
    try {
      await systemctl[verb](unit);
    } catch (e) {
      // systemctl only says "Job failed"; the unit's state says why.
      const props = await systemctl.show(unit, STATE_PROPERTIES).catch(() => null);
      if (props === null) throw e;
      throw new ExternalToolError('systemctl', `${verb} ${unit} failed: ${describeUnitState(props)}`, `see \`journalctl -u ${unit}\``);
    }
    await waitActive(unit);
  }

  /** Unit files for the app (every app when omitted), with what their names say. */
  async function unitFiles(app?: string): Promise<{ unit: string; ref: InstanceRef }[]> {
    let names: string[];
    try {
      names = await readdir(unitDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return names
      .map((unit) => ({ unit, ref: parseInstanceUnitName(unit) }))
      .filter((u): u is { unit: string; ref: InstanceRef } => u.ref !== null && (app === undefined || u.ref.app === app))
      .sort((a, b) => compareInstances(a.ref, b.ref));
  }

  async function start(spec: InstanceSpec): Promise<void> {
    const unit = instanceUnitName(spec);
    if (spec.image.length > 255 || !IMAGE_REF_RE.test(spec.image)) {
      throw new InvalidInputError(`invalid image reference ${JSON.stringify(spec.image)}`);
    }
    const text = renderInstanceUnit(spec, { podmanPath: opts.podmanPath, stateDir: opts.stateDir, user: opts.user });
    const existing = await readUnitMetadata(unit);
    const before = existing === undefined ? null : await systemctl.show(unit, STATE_PROPERTIES);
    const running = before !== null && ['active', 'activating', 'reloading'].includes(before.ActiveState ?? '');
    // Podman would fail later with a less helpful message; the instance's own port is fine to reuse.
    if (spec.hostPort !== null && !(running && existing?.hostPort === spec.hostPort) && !(await isPortFree(spec.hostPort))) {
      throw new ConflictError(
        `port ${spec.hostPort} on 127.0.0.1 is already in use by another process`,
        'pick another instance port or stop whatever listens there',
      );
    }
    await writeFileAtomic(join(unitDir, unit), text, { unwritableHint: 'pvdifyd needs write access to the unit directory (run as root)' });
    await systemctl.daemonReload();
    // Enabled so the instance comes back after a reboot; `stop` disables before deleting.
    await systemctl.enable(unit);
    // `start` on a running unit is a no-op, so a replaced instance needs `restart`.
    await startAndWait(unit, running ? 'restart' : 'start');
    log.info({ unit, release: spec.release, image: spec.image }, 'instance started');
  }

  async function stop(ref: InstanceRef): Promise<void> {
    const unit = instanceUnitName(ref);
    const path = join(unitDir, unit);
    if (!(await unitFileExists(unit))) {
      // Already gone as far as we are concerned; stop anything systemd still runs under the name.
      const props = await systemctl.show(unit, STATE_PROPERTIES);
      if (props.LoadState === 'not-found' || ['inactive', 'failed'].includes(props.ActiveState ?? 'inactive')) return;
      await systemctl.stop(unit);
      return;
    }
    await systemctl.disable(unit, { now: true });
    await unlink(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw new StateUnwritableError(`cannot remove unit file ${path}: ${e.message}`);
    });
    await systemctl.daemonReload();
    log.info({ unit }, 'instance stopped');
  }

  async function restart(ref: InstanceRef): Promise<void> {
    const unit = instanceUnitName(ref);
    if (!(await unitFileExists(unit))) throw new NotFoundError(`no instance ${unit}`, 'deploy or scale the app first');
    await startAndWait(unit, 'restart');
  }

  async function list(app?: string): Promise<InstanceState[]> {
    const files = await unitFiles(app);
    if (files.length === 0) return [];
    const states = await systemctl.showMany(
      files.map((f) => f.unit),
      STATE_PROPERTIES,
    );
    const out: InstanceState[] = [];
    for (const { unit, ref } of files) {
      const meta = await readUnitMetadata(unit);
      const props = states.get(unit) ?? {};
      const state = instanceStateFromUnit(props);
      const since =
        state === 'running'
          ? parseSystemdTimestamp(props.ActiveEnterTimestamp) ?? parseSystemdTimestamp(props.StateChangeTimestamp)
          : parseSystemdTimestamp(props.StateChangeTimestamp);
      const restarts = Number(props.NRestarts ?? '0');
      out.push({
        ...ref,
        state,
        // The container's name, as the podman supervisor reports it; the unit name follows from it.
        name: instanceContainerName(ref),
        hostPort: meta?.hostPort ?? null,
        release: meta?.release ?? null,
        image: meta?.image ?? null,
        since,
        restarts: Number.isFinite(restarts) ? restarts : 0,
      });
    }
    return out;
  }

  async function stats(app: string): Promise<InstanceStats[]> {
    const names = (await unitFiles(app)).map((f) => instanceContainerName(f.ref));
    if (names.length === 0) return [];
    if (opts.stats === undefined) {
      return names.map((name) => ({ name, cpuPercent: null, memoryBytes: null, memoryLimitBytes: null }));
    }
    return opts.stats(names);
  }

  async function logs(app: string, o: { lines: number; process?: string; ref?: InstanceRef }): Promise<LogLine[]> {
    // The instances that exist now, as the podman supervisor does; an explicit ref is read even
    // after its unit is gone, so a failed rollout can still show why it failed.
    const units = o.ref
      ? [instanceUnitName(o.ref)]
      : (await unitFiles(app)).filter((f) => o.process === undefined || f.ref.process === o.process).map((f) => f.unit);
    if (units.length === 0) return [];
    // Podman's own events are filtered out afterwards, so read extra to still fill `lines`.
    const entries = await journal.read({ units, lines: Math.min(o.lines * 5 + 50, 100_000) });
    return entries
      .filter((e) => !isPodmanNoise(e))
      .slice(-o.lines)
      .map(({ time, source, message }) => {
        // systemd's and podman's lines about an instance name its unit: report the container, as app output does.
        const ref = parseInstanceUnitName(source);
        return { time, source: ref === null ? source : instanceContainerName(ref), message };
      });
  }

  /** Each unit publishes its own port and `stop` removes the unit: nothing outlives a release. */
  async function syncSlots(): Promise<void> {}

  return { kind: 'systemd', start, stop, restart, list, stats, logs, syncSlots };
}
