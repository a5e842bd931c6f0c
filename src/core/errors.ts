/**
 * Domain errors. Each carries a stable `code` that front doors map to a message saying what to
 * do next. `message` must never contain a secret value: it may reach Slack, logs and audit.
 */
export class PvdifyError extends Error {
  readonly code: string;
  /** A short hint telling the user what to do next (shown under the message). */
  readonly hint: string | undefined;
  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.hint = hint;
  }
}

/** The input was refused before anything changed (bad name, bad flag, bad key). */
export class InvalidInputError extends PvdifyError {
  constructor(message: string, hint?: string) {
    super('invalid_input', message, hint);
  }
}

/** A named thing (app, release, domain, config key, approval) does not exist. */
export class NotFoundError extends PvdifyError {
  constructor(message: string, hint?: string) {
    super('not_found', message, hint);
  }
}

/** The thing already exists (app name taken, domain attached to another app). */
export class ConflictError extends PvdifyError {
  constructor(message: string, hint?: string) {
    super('conflict', message, hint);
  }
}

/** Someone else holds the lock (a deploy of the same app is running). */
export class LockedError extends PvdifyError {
  constructor(message: string, hint?: string) {
    super('locked', message, hint);
  }
}

/** A pool ran out (no free bind_port in 3000–3999, no free instance port). */
export class ExhaustedError extends PvdifyError {
  constructor(message: string, hint?: string) {
    super('exhausted', message, hint);
  }
}

/** The actor may not do this (role, terminal-only command, self-approval). */
export class ForbiddenError extends PvdifyError {
  constructor(message: string, hint?: string) {
    super('forbidden', message, hint);
  }
}

/** A file in the state dir does not match its schema, or cannot be parsed. */
export class CorruptStateError extends PvdifyError {
  readonly path: string;
  constructor(path: string, message: string, hint?: string) {
    super('corrupt_state', `${path}: ${message}`, hint ?? 'fix or restore the file, then run `pvdifyd rebuild-index`');
    this.path = path;
  }
}

/** The state dir (or a file in it) cannot be written. */
export class StateUnwritableError extends PvdifyError {
  constructor(message: string, hint?: string) {
    super('state_unwritable', message, hint ?? 'check ownership and permissions of PVDIFY_STATE_DIR');
  }
}

/** A SOPS file failed verification (MAC, tampered value) or cannot be decrypted with our keys. */
export class SecretsError extends PvdifyError {
  constructor(message: string, hint?: string) {
    super('secrets', message, hint);
  }
}

/** A step of a rollout failed; `step` names it. `logTail` is already redacted. */
export class DeployStepError extends PvdifyError {
  readonly step: string;
  readonly logTail: readonly string[];
  constructor(step: string, message: string, logTail: readonly string[] = [], hint?: string) {
    super('deploy_failed', message, hint);
    this.step = step;
    this.logTail = logTail;
  }
}

/** An external tool (podman, systemctl, caddy, cloudflared) failed. Details go to the log. */
export class ExternalToolError extends PvdifyError {
  readonly tool: string;
  constructor(tool: string, message: string, hint?: string) {
    super('external_tool', message, hint);
    this.tool = tool;
  }
}

export function isPvdifyError(e: unknown): e is PvdifyError {
  return e instanceof PvdifyError;
}
