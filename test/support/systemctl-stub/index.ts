/**
 * Test helper around the recording systemctl stub (`systemctl.mjs` next to this file): a temp
 * dir holding its call log and state, plus accessors for assertions.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SYSTEMCTL_STUB_PATH = fileURLToPath(new URL('./systemctl.mjs', import.meta.url));

/** What one stub call recorded. */
export interface StubCall {
  argv: string[];
  /** Set when the unit was started although its file changed since the last daemon-reload. */
  staleStart?: string;
}

export interface StubUnitState {
  ActiveState: string;
  SubState: string;
  Result: string;
  NRestarts: number;
  MainPID: number;
  ActiveEnterTimestamp: number;
  StateChangeTimestamp: number;
  enabled: boolean;
}

export interface StubState {
  units: Record<string, StubUnitState>;
  behaviour: Record<string, { onStart?: 'fail' | 'hang' }>;
}

export interface SystemctlStub {
  /** Executable to pass as the systemctl path. */
  path: string;
  /** Environment the stub needs; pass as `env` to createSystemctl. */
  env: Record<string, string>;
  dir: string;
  calls(): Promise<StubCall[]>;
  /** argv of every call, for sequence assertions. */
  argvs(): Promise<string[][]>;
  state(): Promise<StubState>;
  /** Makes the next starts of `unit` fail (`fail`) or never reach active (`hang`). */
  setBehaviour(unit: string, onStart: 'fail' | 'hang' | undefined): Promise<void>;
  /** Simulates systemd restarting a crashed unit (NRestarts + 1, new MainPID). */
  crash(unit: string): Promise<void>;
  clearCalls(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createSystemctlStub(opts: { unitDir?: string } = {}): Promise<SystemctlStub> {
  await chmod(SYSTEMCTL_STUB_PATH, 0o755);
  const dir = await mkdtemp(join(tmpdir(), 'pvdify-systemctl-stub-'));
  const logPath = join(dir, 'calls.jsonl');
  const statePath = join(dir, 'state.json');
  await writeFile(logPath, '');
  await writeFile(statePath, JSON.stringify({ units: {}, behaviour: {} }));
  const env: Record<string, string> = {
    PVDIFY_SYSTEMCTL_STUB_LOG: logPath,
    PVDIFY_SYSTEMCTL_STUB_STATE: statePath,
    ...(opts.unitDir === undefined ? {} : { PVDIFY_SYSTEMCTL_STUB_UNIT_DIR: opts.unitDir }),
  };

  async function calls(): Promise<StubCall[]> {
    const text = await readFile(logPath, 'utf8');
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as StubCall);
  }
  async function state(): Promise<StubState> {
    return JSON.parse(await readFile(statePath, 'utf8')) as StubState;
  }
  async function save(s: StubState): Promise<void> {
    await writeFile(statePath, JSON.stringify(s, null, 2));
  }

  return {
    path: SYSTEMCTL_STUB_PATH,
    env,
    dir,
    calls,
    async argvs() {
      return (await calls()).map((c) => c.argv);
    },
    state,
    async setBehaviour(unit, onStart) {
      const s = await state();
      s.behaviour[unit] = onStart === undefined ? {} : { onStart };
      await save(s);
    },
    async crash(unit) {
      const s = await state();
      const u = s.units[unit];
      if (u === undefined) throw new Error(`stub: unit ${unit} was never started`);
      u.NRestarts += 1;
      u.MainPID += 1;
      u.ActiveEnterTimestamp = Math.floor(Date.now() / 1000);
      await save(s);
    },
    async clearCalls() {
      await writeFile(logPath, '');
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
