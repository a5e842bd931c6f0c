/**
 * A real systemd to test against: a Debian container booted with systemd as PID 1, with Podman
 * inside it (see /work/shared/recipes/real-systemd-in-tests.md for why each flag is there).
 *
 * - `ensureSystemdHostImage()` builds `localhost/pvdify-systemd-host:test` once with mmdebstrap
 *   (about 20 s) and reuses it afterwards.
 * - `bootSystemdHost()` starts it with the repo and the host's node bind-mounted read-only, waits
 *   for boot, configures the inner Podman and imports a busybox image into it.
 * - `host.dispose()` removes the container (and so everything inside it).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type Result } from 'execa';
import { podmanTestEnv } from '../podman/env.ts';

export const SYSTEMD_HOST_IMAGE = 'localhost/pvdify-systemd-host:test';
/** Tag of the busybox image inside the systemd host's Podman. */
export const INNER_BUSYBOX_IMAGE = 'localhost/pvdify-busybox:test';
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
export const DRIVER_PATH = fileURLToPath(new URL('./driver.ts', import.meta.url));
export const INSIDE_CONTRACT_PATH = fileURLToPath(new URL('./systemd-contract.inside.ts', import.meta.url));

const HOST_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'podman', 'runc', 'busybox-static', 'ca-certificates'];
const BUSYBOX = '/bin/busybox';

// Same engine settings as outside; events stay on journald as on a real Debian host. The inner
// default network must not overlap the outer one (10.88.0.0/16, where this host's eth0 lives), or
// the route to nested containers goes out through eth0 and published ports are unreachable.
const INNER_SUBNET = '10.99.0.0/16';
const INNER_CONTAINERS_CONF =
  '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' +
  `[network]\ndefault_subnet = "${INNER_SUBNET}"\n`;
// overlay on top of the outer container's overlay is refused.
const INNER_STORAGE_CONF =
  '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  workdir?: string;
  timeoutMs?: number;
  /** Extra environment for the command (`podman exec -e`). */
  env?: Record<string, string>;
}

/** Environment for code run inside: the inner Podman's own config, and a marker for guards. */
export const INSIDE_ENV: Record<string, string> = {
  CONTAINERS_CONF: '/etc/containers/containers.conf',
  PVDIFY_INSIDE_SYSTEMD_HOST: '1',
};

export interface SystemdHost {
  /** The outer container's name. */
  name: string;
  /** Runs argv inside the systemd host (never through a shell); does not throw on exit status. */
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Like exec, but throws with stderr unless the exit status is 0. */
  run(argv: string[], opts?: ExecOptions): Promise<string>;
  /** Copies a host file into the systemd host. */
  copyIn(hostPath: string, path: string): Promise<void>;
  /** Writes text to a path inside the systemd host (via a temp file and `podman cp`). */
  writeFile(path: string, text: string, mode?: number): Promise<void>;
  /** Runs the supervisor driver (`driver.ts`) inside; returns its JSON answer. */
  driver(op: string, arg?: unknown): Promise<DriverAnswer>;
  dispose(): Promise<void>;
}

export type DriverAnswer =
  | { ok: true; result: unknown }
  | { ok: false; error: { name: string; code: string | null; message: string } };

const podmanEnv = () => podmanTestEnv();

async function podman(args: string[], opts: { timeoutMs?: number; reject?: boolean } = {}): Promise<Result> {
  return execa('podman', args, { env: podmanEnv(), reject: opts.reject ?? true, timeout: opts.timeoutMs ?? 120_000, stdin: 'ignore' });
}

/** Builds the host image unless it exists. Returns whether it was built now. */
export async function ensureSystemdHostImage(): Promise<{ built: boolean; ms: number }> {
  const t0 = Date.now();
  const exists = await podman(['image', 'exists', SYSTEMD_HOST_IMAGE], { reject: false });
  if (exists.exitCode === 0) return { built: false, ms: Date.now() - t0 };
  const which = await execa('mmdebstrap', ['--version'], { reject: false });
  if (which.exitCode !== 0) {
    throw new Error('mmdebstrap is not installed: `apt-get install mmdebstrap` (needed to build the systemd test host)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'pvdify-systemd-host-'));
  try {
    const tarball = join(dir, 'host.tar');
    const built = await execa(
      'mmdebstrap',
      ['--variant=minbase', `--include=${HOST_PACKAGES.join(',')}`, 'bookworm', tarball],
      { reject: false, timeout: 15 * 60_000, all: true, stdin: 'ignore' },
    );
    if (built.exitCode !== 0) {
      const tail = String(built.all ?? '').split('\n').slice(-15).join('\n');
      throw new Error(
        `mmdebstrap could not build the systemd test host (exit ${String(built.exitCode)}); is the Debian mirror reachable?\n${tail}`,
      );
    }
    await podman(['import', '--quiet', tarball, SYSTEMD_HOST_IMAGE], { timeoutMs: 10 * 60_000 });
    return { built: true, ms: Date.now() - t0 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A rootfs tarball holding only the host's static busybox (plus an `sh` link). */
async function buildBusyboxTar(dir: string): Promise<string> {
  const root = join(dir, 'rootfs');
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'tmp'), { recursive: true });
  await copyFile(BUSYBOX, join(root, 'bin', 'busybox')).catch(() => {
    throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static`);
  });
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await symlink('busybox', join(root, 'bin', 'sh'));
  const tarball = join(dir, 'busybox.tar');
  await execa('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', tarball, '.']);
  return tarball;
}

/**
 * systemd in the container sets up its cgroup v1 layout through the shared /sys/fs/cgroup: it
 * mounts hierarchies this host does not mount (net_cls,net_prio, hugetlb, perf_event) and links
 * them there. They outlive the container, unmounted on the host yet listed in /proc/self/cgroup,
 * and podman then cannot create a pod ("mkdir /sys/fs/cgroup/net_cls/libpod_parent: read-only
 * file system"). Mounting each one where systemd linked it leaves the host as a v1 host with
 * those controllers would be. Nothing to do on a cgroup v2 host.
 */
export async function mountOrphanedCgroupHierarchies(): Promise<string[]> {
  const mounted = new Set(
    (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4]).filter((p): p is string => p !== undefined),
  );
  const fixed: string[] = [];
  for (const line of (await readFile('/proc/self/cgroup', 'utf8')).split('\n')) {
    const controllers = line.split(':')[1] ?? '';
    if (controllers === '' || controllers.startsWith('name=')) continue;
    const dir = `/sys/fs/cgroup/${controllers}`;
    if (mounted.has(dir) || !existsSync(dir)) continue;
    const r = await execa('mount', ['-t', 'cgroup', '-o', controllers, 'cgroup', dir], { reject: false });
    if (r.exitCode === 0) fixed.push(controllers);
  }
  return fixed;
}

export async function bootSystemdHost(opts: { bootTimeoutMs?: number } = {}): Promise<SystemdHost> {
  const name = `pvdify-systemd-test-${process.pid}-${randomBytes(3).toString('hex')}`;
  const scratch = await mkdtemp(join(tmpdir(), 'pvdify-systemd-scratch-'));
  let started = false;

  async function exec(argv: string[], o: ExecOptions = {}): Promise<ExecResult> {
    const envArgs = Object.entries(o.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const r = await podman(['exec', ...envArgs, ...(o.workdir ? ['-w', o.workdir] : []), name, ...argv], {
      reject: false,
      timeoutMs: o.timeoutMs ?? 120_000,
    });
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  }
  async function run(argv: string[], o: ExecOptions = {}): Promise<string> {
    const r = await exec(argv, o);
    if (r.exitCode !== 0) throw new Error(`in ${name}: ${argv.join(' ')} exited ${r.exitCode}: ${r.stderr.trim()}`);
    return r.stdout;
  }
  async function copyIn(hostPath: string, path: string): Promise<void> {
    await podman(['cp', hostPath, `${name}:${path}`]);
  }
  let n = 0;
  async function writeInside(path: string, text: string, mode = 0o644): Promise<void> {
    const local = join(scratch, `file-${n++}`);
    await writeFile(local, text, { mode });
    const parent = path.slice(0, path.lastIndexOf('/')) || '/';
    await run(['mkdir', '-p', parent]);
    await copyIn(local, path);
    await run(['chmod', mode.toString(8), path]);
  }
  async function dispose(): Promise<void> {
    if (started) await podman(['rm', '-f', '-t', '0', name], { reject: false });
    if (started) await mountOrphanedCgroupHierarchies();
    await rm(scratch, { recursive: true, force: true });
  }

  try {
    await podman([
      'run', '-d', '--name', name,
      '--systemd=always', '--privileged', '--cgroupns=host',
      '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw',
      '-v', `${REPO_ROOT}:${REPO_ROOT}:ro`,
      '-v', `${process.execPath}:/usr/bin/node:ro`,
      SYSTEMD_HOST_IMAGE, '/sbin/init',
    ]);
    started = true;

    const deadline = Date.now() + (opts.bootTimeoutMs ?? 60_000);
    let state = '';
    for (;;) {
      state = (await exec(['systemctl', 'is-system-running'])).stdout.trim();
      // `degraded`: Podman's own auto-update/restart units fail in here, which is harmless.
      if (state === 'running' || state === 'degraded') break;
      if (Date.now() > deadline) throw new Error(`systemd in ${name} did not finish booting (state: ${state || 'none'})`);
      await sleep(250);
    }

    await writeInside('/etc/containers/containers.conf', INNER_CONTAINERS_CONF);
    await writeInside('/etc/containers/storage.conf', INNER_STORAGE_CONF);
    // Debian's packaged default network pins 10.88.0.0/16; without it podman uses default_subnet.
    await run(['rm', '-f', '/etc/cni/net.d/87-podman-bridge.conflist']);
    const tarball = await buildBusyboxTar(scratch);
    await copyIn(tarball, '/tmp/busybox.tar');
    await run(['podman', 'import', '--quiet', '/tmp/busybox.tar', INNER_BUSYBOX_IMAGE]);
  } catch (e) {
    await dispose();
    throw e;
  }

  return {
    name,
    exec,
    run,
    copyIn,
    writeFile: writeInside,
    async driver(op, arg) {
      const r = await exec(['node', '--import', 'tsx', DRIVER_PATH, op, JSON.stringify(arg ?? null)], {
        workdir: REPO_ROOT,
        env: INSIDE_ENV,
        timeoutMs: 180_000,
      });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(line) as DriverAnswer;
      } catch {
        throw new Error(`driver ${op} printed no answer (exit ${r.exitCode}): ${r.stderr.trim().slice(-2000)}`);
      }
    },
    dispose,
  };
}
