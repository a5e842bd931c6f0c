/**
 * What every supervisor (podman, systemd, the fake) agrees a container instance is: its name,
 * labels and port, the checks a spec passes before any of it reaches a command line or a unit
 * file, and the "is this host port free" probe. One definition, so a container started by a
 * systemd unit is the one `podman ps`/`stats` find by name and label.
 */
import { createServer } from 'node:net';
import { isAbsolute } from 'node:path';
import { ConflictError, InvalidInputError } from '../../core/errors.ts';
import { Colour } from '../../core/model.ts';
import { IMAGE_REF_RE, PROCESS_TYPE_RE, SLOT_NAME_RE } from '../../core/names.ts';
import type { InstanceRef, InstanceSpec } from '../../core/ports/runtime.ts';

export const LABEL_APP = 'pvdify.app';
export const LABEL_PROCESS = 'pvdify.process';
export const LABEL_COLOUR = 'pvdify.colour';
export const LABEL_INDEX = 'pvdify.index';
export const LABEL_RELEASE = 'pvdify.release';
/** On the network pods of the podman supervisor (see `networkPodName`). */
export const LABEL_NETWORK_POD = 'pvdify.network-pod';

/** The port every app container listens on (`PORT=3000`), per the seed. */
export const CONTAINER_PORT = 3000;

/** `pvdify-<app>-<process>-<colour>-<n>`. */
export function containerName(ref: InstanceRef): string {
  return `pvdify-${ref.app}-${ref.process}-${ref.colour}-${ref.index}`;
}

/**
 * `pvdify-<app>-<process>-<colour>-<n>-p<port>`: the pod that holds one instance slot's network
 * namespace and host port for the podman supervisor. The port is part of the name, so a slot
 * whose port changed never joins a pod publishing the old one.
 */
export function networkPodName(ref: InstanceRef, hostPort: number): string {
  return `${containerName(ref)}-p${hostPort}`;
}

/** Refuses a ref whose parts could not safely become a container or unit name (every problem at once). */
export function assertInstanceRef(ref: InstanceRef): void {
  const problems: string[] = [];
  if (!SLOT_NAME_RE.test(ref.app)) problems.push(`app: ${JSON.stringify(ref.app)} is not a valid app name`);
  if (!PROCESS_TYPE_RE.test(ref.process)) problems.push(`process: ${JSON.stringify(ref.process)} is not a valid process type`);
  if (!Colour.safeParse(ref.colour).success) problems.push(`colour: ${JSON.stringify(ref.colour)} is not blue or green`);
  if (!Number.isInteger(ref.index) || ref.index < 1 || ref.index > 20) problems.push(`index: ${String(ref.index)} is not 1–20`);
  if (problems.length > 0) throw new InvalidInputError(`invalid instance: ${problems.join('; ')}`);
}

/**
 * Refuses a spec that would put something unexpected on a command line or in a unit file. The
 * image is checked by the caller: podman wants a well-formed reference (`assertImageRef`), the
 * unit renderer only needs one it can quote.
 */
export function assertInstanceSpec(spec: InstanceSpec): void {
  assertInstanceRef(spec);
  if (spec.hostPort !== null && (!Number.isInteger(spec.hostPort) || spec.hostPort < 1024 || spec.hostPort > 65535)) {
    throw new InvalidInputError(`invalid host port ${String(spec.hostPort)}`);
  }
  if (!isAbsolute(spec.envFile)) throw new InvalidInputError('the env file path must be absolute');
  if (spec.memory !== null && !/^\d{1,6}[KMG]$/.test(spec.memory)) {
    throw new InvalidInputError(`invalid memory limit ${JSON.stringify(spec.memory)}`);
  }
  if (spec.cpu !== null && !(Number.isFinite(spec.cpu) && spec.cpu > 0 && spec.cpu <= 64)) {
    throw new InvalidInputError(`invalid cpu limit ${String(spec.cpu)}`);
  }
  if (!Number.isInteger(spec.release) || spec.release < 1) {
    throw new InvalidInputError(`invalid release number ${String(spec.release)}`);
  }
}

/** Listing order: app, process, colour, then index numerically (so 2 comes before 10). */
export function compareInstances(a: InstanceRef, b: InstanceRef): number {
  return (
    a.app.localeCompare(b.app) ||
    a.process.localeCompare(b.process) ||
    a.colour.localeCompare(b.colour) ||
    a.index - b.index
  );
}

export function instanceLabels(spec: InstanceSpec): Record<string, string> {
  return {
    [LABEL_APP]: spec.app,
    [LABEL_PROCESS]: spec.process,
    [LABEL_COLOUR]: spec.colour,
    [LABEL_INDEX]: String(spec.index),
    [LABEL_RELEASE]: String(spec.release),
  };
}

/** True when nothing listens on `host:port` (checked by binding it for a moment). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE' || e.code === 'EACCES') resolve(false);
      else reject(e);
    });
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/** Throws ConflictError naming the port when something already listens on it. */
export async function assertPortFree(port: number, host = '127.0.0.1'): Promise<void> {
  if (!(await isPortFree(port, host))) throw portConflictError(port, host);
}

export function portConflictError(port: number, host = '127.0.0.1'): ConflictError {
  return new ConflictError(
    `port ${port} on ${host} is already in use by another process`,
    'pick another instance port or stop whatever listens there',
  );
}

/** Refuses an image reference that is malformed or could read as a flag. */
export function assertImageRef(image: string): void {
  if (image.length > 255 || !IMAGE_REF_RE.test(image)) {
    throw new InvalidInputError(`invalid image reference ${JSON.stringify(image)}`);
  }
}
