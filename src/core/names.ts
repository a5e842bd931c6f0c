import { z } from 'zod';

/**
 * Slot names per the seed: `myapp`, `myapp-staging`, `myapp-pr-123`. A lowercase ASCII letter,
 * then lowercase ASCII letters, digits and hyphens; 1–40 chars. Checked before a name reaches
 * a path, a unit name or a command line.
 */
export const SLOT_NAME_RE = /^[a-z][a-z0-9-]{0,39}$/;
export const SlotName = z
  .string()
  .max(40, 'app names are at most 40 characters')
  .regex(SLOT_NAME_RE, 'app names start with a lowercase letter and use only a-z, 0-9 and -');
export type SlotName = z.infer<typeof SlotName>;

/** Config keys: environment variable names. */
export const CONFIG_KEY_RE = /^[A-Z_][A-Z0-9_]*$/;
export const ConfigKey = z
  .string()
  .max(255, 'config keys are at most 255 characters')
  .regex(CONFIG_KEY_RE, 'config keys match [A-Z_][A-Z0-9_]* (for example DATABASE_URL)');

/** Process types (`web`, `worker`, `release-tasks` is not allowed: same rule as env names but lowercase). */
export const PROCESS_TYPE_RE = /^[a-z][a-z0-9_]{0,29}$/;
export const ProcessType = z.string().regex(PROCESS_TYPE_RE, 'process types are lowercase words like web or worker');

export const ENVIRONMENTS = ['production', 'staging', 'preview'] as const;
export const Environment = z.enum(ENVIRONMENTS);
export type Environment = z.infer<typeof Environment>;

/**
 * A DNS hostname as cloudflared accepts it for an ingress rule we generate: lowercase labels,
 * optional leading `*.` wildcard, no port, no trailing dot.
 */
export const DOMAIN_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/;
export const DomainName = z
  .string()
  .max(253, 'domain names are at most 253 characters')
  .regex(DOMAIN_RE, 'domains are lowercase hostnames like www.example.com (no port, no scheme, no path)');

/** The environment a slot name implies (seed convention), used as the default for apps:create. */
export function environmentForName(name: string): Environment {
  if (/-pr-\d+$/.test(name)) return 'preview';
  if (name.endsWith('-staging')) return 'staging';
  return 'production';
}

/**
 * Container image references: `[registry/]path[:tag][@digest]`. No leading `-` (it would read
 * as a flag), no whitespace or shell metacharacters, at most 255 chars.
 */
export const IMAGE_REF_RE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
export const ImageRef = z
  .string()
  .max(255, 'image references are at most 255 characters')
  .regex(IMAGE_REF_RE, 'not a valid image reference (expected something like ghcr.io/org/app:v1.2.3)');
