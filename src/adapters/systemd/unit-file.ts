/**
 * Pure rendering of the systemd units pvdify installs: one unit per container instance, the
 * router (Caddy) and the daemon. Nothing here touches the file system or runs a command.
 *
 * Per-instance unit files, not a template: an instance differs from its siblings in image,
 * host port, release, resources and (across colours) env file, and a template can only vary by
 * `%i`. Squeezing all of that into the instance string, or into drop-ins, would make
 * `systemctl cat` lie about what runs. So every instance gets a complete file named with the
 * instance syntax (`pvdify-<app>-<process>@<colour>-<n>.service`); systemd loads such a file
 * directly without a `@.service` template, and the `@` keeps each process type in its own slice.
 */
import { InvalidInputError } from '../../core/errors.ts';
import type { Colour } from '../../core/model.ts';
import type { InstanceRef, InstanceSpec } from '../../core/ports/runtime.ts';
import { CONTAINER_PORT, assertInstanceRef, assertInstanceSpec, containerName, instanceLabels } from '../podman/instance-spec.ts';

export { assertInstanceRef };
/** Seconds podman waits between SIGTERM and SIGKILL; TimeoutStopSec leaves room for cleanup. */
export const STOP_GRACE_SECONDS = 10;

export const ROUTER_UNIT_NAME = 'pvdify-router.service';
/** The router's front tier (router ports → app sockets); see src/adapters/caddy/caddy-config.ts. */
export const ROUTER_FRONT_UNIT_NAME = 'pvdify-router-front.service';
/** Both router units, in start order. */
export const ROUTER_UNIT_NAMES = [ROUTER_UNIT_NAME, ROUTER_FRONT_UNIT_NAME] as const;
export const DAEMON_UNIT_NAME = 'pvdifyd.service';

const UNIT_NAME_RE = /^pvdify-([a-z][a-z0-9-]{0,39})-([a-z][a-z0-9_]{0,29})@(blue|green)-([1-9][0-9]?)\.service$/;
const SAFE_BARE_ARG_RE = /^[A-Za-z0-9_@+=:,./-]+$/;
const USER_NAME_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
const METADATA_KEY = 'X-Pvdify-Instance';

/** What a generated instance unit records about itself, read back by `list`. */
export interface InstanceUnitMetadata extends InstanceRef {
  release: number;
  image: string;
  hostPort: number | null;
}

export interface InstanceUnitOptions {
  /** Absolute path of the podman binary (systemd needs absolute paths in Exec lines). */
  podmanPath: string;
  /** The state dir; the unit waits for its mount because the env file lives there. */
  stateDir: string;
  /** Run podman as this user instead of root (rootless podman; needs lingering for that user). */
  user?: string;
}

/** `pvdify-<app>-<process>@<colour>-<n>.service` */
export function instanceUnitName(ref: InstanceRef): string {
  assertInstanceRef(ref);
  return `pvdify-${ref.app}-${ref.process}@${ref.colour}-${ref.index}.service`;
}

/** `pvdify-<app>-<process>-<colour>-<n>`: the container's name (podman names cannot hold `@`). */
export function instanceContainerName(ref: InstanceRef): string {
  assertInstanceRef(ref);
  return containerName(ref);
}

/**
 * The instance a unit name stands for, or null for any other unit. Process types have no `-`,
 * so the last `-` before `@` separates app from process even for apps like `shop-staging`.
 */
export function parseInstanceUnitName(unit: string): InstanceRef | null {
  const m = UNIT_NAME_RE.exec(unit);
  if (!m) return null;
  const [, app, process, colour, index] = m;
  const ref = { app: app!, process: process!, colour: colour as Colour, index: Number(index) };
  return ref.index <= 20 ? ref : null;
}

/**
 * Quotes one argv element for an Exec line so systemd hands it to the program byte for byte:
 * `%` is a specifier (→ `%%`), `$` is expanded at exec time (→ `$$`), backslash and `"` are
 * C-escapes inside double quotes, and a bare `;` would separate commands. Safe words stay bare
 * for readability. A newline cannot be represented in a unit line, so it is refused.
 */
export function systemdQuoteArg(arg: string): string {
  if (/[\n\0]/.test(arg)) throw new InvalidInputError('command arguments cannot contain newlines or NUL bytes');
  // In a `u` regex a surrogate range only matches unpaired halves, which UTF-8 cannot encode.
  if (/[\uD800-\uDFFF]/u.test(arg)) throw new InvalidInputError('command arguments must be valid Unicode');
  if (SAFE_BARE_ARG_RE.test(arg)) return arg;
  let out = '"';
  for (const ch of arg) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '%') out += '%%';
    else if (ch === '$') out += '$$';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A path in a setting that takes a single path literally (WorkingDirectory=, EnvironmentFile=). */
function systemdPathValue(path: string, what: string): string {
  if (!path.startsWith('/')) throw new InvalidInputError(`${what} must be an absolute path`);
  if (/[\x00-\x1f\x7f]/.test(path) || path.trim() !== path) {
    throw new InvalidInputError(`${what} cannot contain control characters or surrounding spaces`);
  }
  return path.replaceAll('%', '%%');
}

/** The absolute path of an executable in an Exec line (no prefixes like `-` or `@` slip in). */
function executable(path: string, what: string): string {
  if (!path.startsWith('/')) throw new InvalidInputError(`${what} must be an absolute path`);
  return systemdQuoteArg(path);
}

/** One Exec line: words are already quoted; long lines are continued the way podman writes them. */
function execLine(key: string, words: string[][]): string {
  return `${key}=${words.map((group) => group.join(' ')).join(' \\\n\t')}`;
}

function userLine(user: string | undefined): string[] {
  if (user === undefined) return [];
  if (!USER_NAME_RE.test(user)) throw new InvalidInputError(`user: ${JSON.stringify(user)} is not a valid user name`);
  return [`User=${user}`];
}

/** Paths without spaces or quotes can be a RequiresMountsFor= word as they are. */
function mountPathWord(path: string): string | null {
  return /^\/[^\s"'\\]*$/.test(path) ? path.replaceAll('%', '%%') : null;
}

/** The unit file for one instance. Throws InvalidInputError before anything unsafe is rendered. */
export function renderInstanceUnit(spec: InstanceSpec, opts: InstanceUnitOptions): string {
  const unit = instanceUnitName(spec);
  const container = instanceContainerName(spec);
  const podman = executable(opts.podmanPath, 'podmanPath');
  systemdPathValue(opts.stateDir, 'stateDir');
  assertInstanceSpec(spec);
  if (spec.image.length === 0 || spec.image.startsWith('-')) {
    throw new InvalidInputError('image must be an image reference (it cannot start with -)');
  }

  const cid = '--cidfile=%t/%n.ctr-id';
  const run: string[][] = [
    [podman, 'run'],
    [cid],
    ['--cgroups=no-conmon'],
    ['--rm'],
    ['--sdnotify=conmon'],
    ['--replace'],
    ['-d'],
    // Explicit so `logs` works whatever the host's containers.conf says.
    ['--log-driver=journald'],
    ['--name', container],
    ...Object.entries(instanceLabels(spec)).map(([key, value]) => ['--label', `${key}=${value}`]),
    ['--env-file', systemdQuoteArg(spec.envFile)],
    ['--env', `PORT=${CONTAINER_PORT}`],
  ];
  if (spec.hostPort !== null) run.push(['-p', `127.0.0.1:${spec.hostPort}:${CONTAINER_PORT}`]);
  if (spec.memory !== null) run.push(['--memory', spec.memory]);
  if (spec.cpu !== null) run.push(['--cpus', String(spec.cpu)]);
  run.push([systemdQuoteArg(spec.image)]);
  for (const arg of spec.command ?? []) run.push([systemdQuoteArg(arg)]);

  const metadata: InstanceUnitMetadata = {
    app: spec.app,
    process: spec.process,
    colour: spec.colour,
    index: spec.index,
    release: spec.release,
    image: spec.image,
    hostPort: spec.hostPort,
  };
  const mounts = ['%t/containers', mountPathWord(opts.stateDir)].filter((w) => w !== null);

  return [
    `# ${unit}: generated by pvdify; edits are overwritten on the next deploy or regenerate-units.`,
    '[Unit]',
    `Description=pvdify ${spec.app} ${spec.process}.${spec.index} (${spec.colour}, release v${spec.release})`,
    'Wants=network-online.target',
    'After=network-online.target',
    `RequiresMountsFor=${mounts.join(' ')}`,
    // systemd ignores X- keys; JSON keeps odd characters in the image on one safe line.
    `${METADATA_KEY}=${JSON.stringify(metadata)}`,
    '',
    '[Service]',
    'Environment=PODMAN_SYSTEMD_UNIT=%n',
    ...userLine(opts.user),
    'Restart=always',
    'RestartSec=5',
    `TimeoutStopSec=${STOP_GRACE_SECONDS + 60}`,
    // Lets an operator find every line of an app, stopped instances included: `journalctl PVDIFY_APP=<app>`.
    `LogExtraFields=PVDIFY_APP=${spec.app}`,
    `LogExtraFields=PVDIFY_PROCESS=${spec.process}`,
    `LogExtraFields=PVDIFY_COLOUR=${spec.colour}`,
    `LogExtraFields=PVDIFY_INDEX=${spec.index}`,
    `LogExtraFields=PVDIFY_RELEASE=${spec.release}`,
    'ExecStartPre=/bin/rm -f %t/%n.ctr-id',
    execLine('ExecStart', run),
    `ExecStop=${podman} stop --ignore -t ${STOP_GRACE_SECONDS} ${cid}`,
    `ExecStopPost=${podman} rm -f --ignore -t ${STOP_GRACE_SECONDS} ${cid}`,
    'Type=notify',
    'NotifyAccess=all',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * The metadata line of a unit rendered by `renderInstanceUnit`, or null when the file has none
 * or it does not parse (a hand-written or older unit: callers fall back to the unit name).
 */
export function parseInstanceUnitMetadata(text: string): InstanceUnitMetadata | null {
  const line = text.split('\n').find((l) => l.startsWith(`${METADATA_KEY}=`));
  if (line === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(line.slice(METADATA_KEY.length + 1));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const ref = { app: v.app, process: v.process, colour: v.colour, index: v.index };
  if (
    typeof ref.app !== 'string' ||
    typeof ref.process !== 'string' ||
    (ref.colour !== 'blue' && ref.colour !== 'green') ||
    typeof ref.index !== 'number' ||
    typeof v.release !== 'number' ||
    typeof v.image !== 'string' ||
    (v.hostPort !== null && typeof v.hostPort !== 'number')
  ) {
    return null;
  }
  return {
    app: ref.app,
    process: ref.process,
    colour: ref.colour,
    index: ref.index,
    release: v.release,
    image: v.image,
    hostPort: v.hostPort as number | null,
  };
}

export interface RouterUnitOptions {
  caddyPath: string;
  stateDir: string;
  user?: string;
}

/**
 * A long-running service next to the state dir (router, tunnel): ready via sd_notify, restarted
 * always, started after the network and the state dir's mount.
 */
function stateServiceUnit(o: { unitName: string; description: string; after: string[]; stateDir: string; user?: string; service: string[] }): string {
  const stateMount = mountPathWord(o.stateDir);
  return [
    `# ${o.unitName}: generated by pvdify.`,
    '[Unit]',
    `Description=${o.description}`,
    'Wants=network-online.target',
    `After=${['network-online.target', ...o.after].join(' ')}`,
    ...(stateMount === null ? [] : [`RequiresMountsFor=${stateMount}`]),
    '',
    '[Service]',
    // Both Caddy and cloudflared tell systemd when they are ready to serve.
    'Type=notify',
    ...userLine(o.user),
    ...o.service,
    'Restart=always',
    'RestartSec=5',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * `pvdify-router.service` (the apps tier, `router/caddy.json`) or, with `tier: 'front'`,
 * `pvdify-router-front.service` (`router/front.json`): Caddy serving the generated config (its
 * admin API applies changes). The front starts after the apps tier it proxies to.
 */
export function renderRouterUnit(opts: RouterUnitOptions, tier: 'apps' | 'front' = 'apps'): string {
  const caddy = executable(opts.caddyPath, 'caddyPath');
  systemdPathValue(opts.stateDir, 'stateDir');
  const config = systemdQuoteArg(`${opts.stateDir.replace(/\/+$/, '')}/router/${tier === 'apps' ? 'caddy.json' : 'front.json'}`);
  return stateServiceUnit({
    unitName: tier === 'apps' ? ROUTER_UNIT_NAME : ROUTER_FRONT_UNIT_NAME,
    description: tier === 'apps' ? 'pvdify router (Caddy, apps tier)' : 'pvdify router (Caddy, front tier on the router ports)',
    after: tier === 'apps' ? [] : [ROUTER_UNIT_NAME],
    stateDir: opts.stateDir,
    user: opts.user,
    service: [
      `ExecStart=${caddy} run --config ${config}`,
      `ExecReload=${caddy} reload --config ${config} --force`,
      'TimeoutStopSec=10',
      'LimitNOFILE=1048576',
    ],
  });
}

/** Both router units, in start order, as `{ name, text }`. */
export function renderRouterUnits(opts: RouterUnitOptions): { name: string; text: string }[] {
  return [
    { name: ROUTER_UNIT_NAME, text: renderRouterUnit(opts, 'apps') },
    { name: ROUTER_FRONT_UNIT_NAME, text: renderRouterUnit(opts, 'front') },
  ];
}

export interface DaemonUnitOptions {
  nodePath: string;
  /** Checkout of pvdify (holds bin/pvdifyd.js and node_modules). */
  repoDir: string;
  user?: string;
}

/** `pvdifyd.service`: the Slack bot, scheduler and metrics endpoint. */
export function renderDaemonUnit(opts: DaemonUnitOptions): string {
  const node = executable(opts.nodePath, 'nodePath');
  const repo = opts.repoDir.replace(/\/+$/, '');
  const workdir = systemdPathValue(repo, 'repoDir');
  return [
    `# ${DAEMON_UNIT_NAME}: generated by pvdify.`,
    '[Unit]',
    'Description=pvdify daemon (Slack front door, scheduler)',
    'Wants=network-online.target',
    `After=network-online.target ${ROUTER_UNIT_NAME}`,
    '',
    '[Service]',
    'Type=simple',
    ...userLine(opts.user),
    // Optional (`-`): tokens and settings live there, mode 0600, never in the unit.
    'EnvironmentFile=-/etc/pvdify/pvdifyd.env',
    'Environment=NODE_ENV=production',
    `WorkingDirectory=${workdir}`,
    `ExecStart=${node} ${systemdQuoteArg(`${repo}/bin/pvdifyd.js`)} serve`,
    'Restart=always',
    'RestartSec=5',
    'TimeoutStopSec=30',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export const TUNNEL_UNIT_NAME = 'cloudflared-pvdify.service';

export interface TunnelUnitOptions {
  cloudflaredPath: string;
  stateDir: string;
  user?: string;
}

/**
 * `cloudflared-pvdify.service`: the tunnel serving `tunnels/pvdify-apps.yml`. cloudflared reads
 * its ingress only at start, so pvdify restarts this unit when the hostname routing changes.
 */
export function renderTunnelUnit(opts: TunnelUnitOptions): string {
  const cloudflared = executable(opts.cloudflaredPath, 'cloudflaredPath');
  systemdPathValue(opts.stateDir, 'stateDir');
  const config = systemdQuoteArg(`${opts.stateDir.replace(/\/+$/, '')}/tunnels/pvdify-apps.yml`);
  return stateServiceUnit({
    unitName: TUNNEL_UNIT_NAME,
    description: 'pvdify tunnel (cloudflared)',
    after: [ROUTER_UNIT_NAME],
    stateDir: opts.stateDir,
    user: opts.user,
    service: [`ExecStart=${cloudflared} --no-autoupdate tunnel --config ${config} run`, 'TimeoutStopSec=30'],
  });
}
