/**
 * The command module contract. The types live in core (`src/core/grammar/spec.ts`) so the
 * executor can use them without importing this folder; modules import them from here.
 */
import type { z } from 'zod';
import type { CommandSpec, PositionalSpec } from '../src/core/grammar/spec.ts';

export type { CommandContext, CommandSpec, FlagSpec, PositionalSpec } from '../src/core/grammar/spec.ts';
export type { Role } from '../src/core/grammar/roles.ts';

/** Identity function that checks a module against the contract and infers its args type. */
export function defineCommand<S extends z.ZodType>(spec: CommandSpec<S>): CommandSpec<S> {
  return spec;
}

/** The app, first positional or `-a NAME` / `--app NAME` (Heroku style). */
export const APP_POSITIONAL: PositionalSpec = { name: 'app', label: 'NAME', required: true, flag: { long: 'app', short: 'a' } };
