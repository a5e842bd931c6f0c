/**
 * Roles, lowest to highest. Each role may do everything the roles below it may: an approver
 * can deploy, an admin can approve. The policy file (later) maps actors and environments to a
 * role; front doors pass that mapping to `executeCommand` as a `RoleResolver`.
 */
import type { Actor } from '../model.ts';

export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The role `actor` has for a command on `app` (null when the command names no app). Returns
 * null for an actor the policy does not know: such an actor may run nothing.
 */
export type RoleResolver = (actor: Actor, app: string | null) => Role | null;

export function roleAtLeast(held: Role, required: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(required);
}
