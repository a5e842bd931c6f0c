/**
 * The shapes of everything in the state dir, as zod schemas. The YAML files are the source of
 * truth; these schemas are what a file must satisfy to be read. A file that fails is reported
 * with its path and the failing field (see `describeZodError`), never rewritten.
 */
import { z } from 'zod';
import { ConfigKey, DomainName, Environment, ImageRef, ProcessType, SlotName } from './names.ts';

export const APP_SCHEMA_VERSION = 1;
export const RELEASE_SCHEMA_VERSION = 1;
export const APPROVAL_SCHEMA_VERSION = 1;

/** ISO-8601 timestamp in UTC, as written by `Clock.now().toISOString()`. */
export const Timestamp = z.iso.datetime({ offset: true });

/** Durations as the seed writes them: `30s`, `5s`, `2m`. */
export const Duration = z.string().regex(/^\d{1,6}(ms|s|m|h)$/, 'durations look like 500ms, 5s, 2m or 1h');

export const ProcessSpec = z.strictObject({
  /** Command run in the container instead of the image's default; argv split without a shell. */
  command: z.string().max(4096).nullable().default(null),
  count: z.number().int().min(0).max(20),
});
export type ProcessSpec = z.infer<typeof ProcessSpec>;

export const Resources = z.strictObject({
  /** Podman/systemd memory limit, e.g. `512M`, `1G`. */
  memory: z.string().regex(/^\d{1,6}[KMG]$/, 'memory looks like 512M or 1G').nullable().default(null),
  /** CPUs, e.g. 0.5. */
  cpu: z.number().positive().max(64).nullable().default(null),
});
export type Resources = z.infer<typeof Resources>;

export const Healthcheck = z.strictObject({
  path: z.string().regex(/^\/[\x21-\x7e]{0,511}$/, 'health paths start with / and are printable ASCII'),
  interval: Duration.default('30s'),
  timeout: Duration.default('5s'),
  retries: z.number().int().min(1).max(100).default(3),
});
export type Healthcheck = z.infer<typeof Healthcheck>;

export const Colour = z.enum(['blue', 'green']);
export type Colour = z.infer<typeof Colour>;

/** A running container instance of one process type in the live colour. */
export const InstanceRecord = z.strictObject({
  process: ProcessType,
  index: z.number().int().min(1).max(20),
  /** Host port on 127.0.0.1 the container's PORT is published to (web only). */
  port: z.number().int().min(1024).max(65535).nullable(),
});
export type InstanceRecord = z.infer<typeof InstanceRecord>;

export const Deployment = z.strictObject({
  colour: Colour,
  release: z.number().int().positive(),
  instances: z.array(InstanceRecord),
});
export type Deployment = z.infer<typeof Deployment>;

export const AppStatus = z.enum(['created', 'deploying', 'running', 'stopped', 'failed']);
export type AppStatus = z.infer<typeof AppStatus>;

/** `apps/<slot>.yaml`: the seed's fields plus a schema `version` and the runtime bookkeeping. */
export const AppSlot = z.strictObject({
  version: z.literal(APP_SCHEMA_VERSION),
  name: SlotName,
  environment: Environment,
  status: AppStatus,
  /** Null until the first deploy (the seed's releases.image is NOT NULL). */
  image: ImageRef.nullable(),
  bind_port: z.number().int().min(3000).max(3999),
  processes: z.record(ProcessType, ProcessSpec),
  domains: z.array(DomainName),
  /** Edge state of each domain in `domains` (the seed's domains table is indexed from this). */
  domain_routes: z
    .record(
      DomainName,
      z.strictObject({
        status: z.enum(['pending', 'active', 'failed']),
        cf_record_id: z.string().max(200).nullable().default(null),
        created_at: Timestamp,
      }),
    )
    .default({}),
  resources: Resources,
  healthcheck: Healthcheck,
  /** Release currently serving, null before the first successful deploy. */
  current_release: z.number().int().positive().nullable().default(null),
  /** Newest config version, null before the first config:set. */
  config_version: z.number().int().positive().nullable().default(null),
  /** What is running now (colour and instance ports), null when nothing is. */
  deployment: Deployment.nullable().default(null),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export type AppSlot = z.infer<typeof AppSlot>;

export const ReleaseStatus = z.enum(['pending', 'deploying', 'succeeded', 'failed', 'superseded']);
export type ReleaseStatus = z.infer<typeof ReleaseStatus>;

export const ReleaseKind = z.enum(['deploy', 'config', 'rollback', 'promote', 'scale', 'restart']);
export type ReleaseKind = z.infer<typeof ReleaseKind>;

export const ActorSource = z.enum(['cli', 'slack', 'scheduler', 'daemon']);
export type ActorSource = z.infer<typeof ActorSource>;

/** `releases/<app>/v<N>.yaml`: immutable except the status fields. */
export const Release = z.strictObject({
  schema_version: z.literal(RELEASE_SCHEMA_VERSION),
  app: SlotName,
  version: z.number().int().positive(),
  kind: ReleaseKind,
  image: ImageRef,
  config_version: z.number().int().positive().nullable(),
  status: ReleaseStatus,
  description: z.string().max(500),
  source: ActorSource,
  /** Stable identity: `slack:U…`, `cli:<unix user>`, `scheduler`. */
  created_by: z.string().min(1).max(200),
  created_by_name: z.string().max(200),
  approved_by: z.string().max(200).nullable().default(null),
  /** For rollbacks: the release whose image and config were reused. */
  rollback_of: z.number().int().positive().nullable().default(null),
  created_at: Timestamp,
  updated_at: Timestamp,
  finished_at: Timestamp.nullable().default(null),
  error: z
    .strictObject({ step: z.string().max(100), message: z.string().max(2000) })
    .nullable()
    .default(null),
});
export type Release = z.infer<typeof Release>;

export const ApprovalStatus = z.enum(['pending', 'approved', 'rejected', 'expired', 'cancelled']);
export type ApprovalStatus = z.infer<typeof ApprovalStatus>;

/** `approvals/<id>.yaml`: a production change waiting for a second person. */
export const Approval = z.strictObject({
  schema_version: z.literal(APPROVAL_SCHEMA_VERSION),
  id: z.string().regex(/^[a-z0-9-]{6,64}$/),
  app: SlotName,
  action: z.enum(['deploy', 'rollback', 'promote', 'config']),
  /** The command as it will run once approved (secret values already redacted or absent). */
  command: z.string().max(4000),
  requested_by: z.string().min(1).max(200),
  requested_by_name: z.string().max(200),
  requested_at: Timestamp,
  expires_at: Timestamp,
  status: ApprovalStatus,
  decided_by: z.string().max(200).nullable().default(null),
  decided_by_name: z.string().max(200).nullable().default(null),
  decided_at: Timestamp.nullable().default(null),
  /** Where the card lives, so it can be edited when the request is decided. */
  channel: z.string().max(100).nullable().default(null),
  message_ts: z.string().max(100).nullable().default(null),
});
export type Approval = z.infer<typeof Approval>;

export const AuditOutcome = z.enum(['ok', 'refused', 'failed']);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

/** What a caller records; the audit log adds seq, id, time and the hash chain. */
export const AuditEventInput = z.strictObject({
  actor_id: z.string().min(1).max(200),
  actor_name: z.string().max(200),
  source: ActorSource,
  channel: z.string().max(100).nullable().default(null),
  /** The command text with secret values replaced (see `redactCommandText`). */
  command: z.string().max(8000),
  app: z.string().max(100).nullable().default(null),
  outcome: AuditOutcome,
  /** A reference users can quote: release `myapp v42`, approval id, error ref. */
  ref: z.string().max(200).nullable().default(null),
  /** One line on why it was refused or failed; never a secret value. */
  detail: z.string().max(2000).nullable().default(null),
});
export type AuditEventInput = z.input<typeof AuditEventInput>;

/** One line of `audit/<YYYY-MM>.jsonl`. */
export const AuditEvent = AuditEventInput.extend({
  seq: z.number().int().positive(),
  id: z.string().min(1).max(64),
  time: Timestamp,
  /** sha256 (hex) of the previous event's line as hashed, or 64 zeros for the first event. */
  prev: z.string().regex(/^[a-f0-9]{64}$/),
  /** sha256 (hex) over `prev` and this event's canonical fields. */
  hash: z.string().regex(/^[a-f0-9]{64}$/),
});
export type AuditEvent = z.infer<typeof AuditEvent>;

/** An actor as the front doors describe it. */
export interface Actor {
  /** Stable id: `slack:U123`, `cli:alice`, `scheduler`. */
  id: string;
  /** Display name for replies and audit. */
  name: string;
  source: ActorSource;
  /** Slack channel id where the command was typed, when there is one. */
  channel?: string | null;
  /** True when the command was typed on a terminal (`config:get` needs this). */
  terminal?: boolean;
}

export { ConfigKey };

/** Render a zod error as `field.path: message` lines, every problem at once. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
