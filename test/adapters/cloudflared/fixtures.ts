/** Loads shared/fixtures/cloudflared (`PVDIFY_FIXTURES_DIR` overrides the fixtures root). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES_DIR = process.env.PVDIFY_FIXTURES_DIR ?? join(repoRoot, '..', 'shared', 'fixtures');

export interface FixtureRule {
  hostname: string;
  path: string | null;
  service_kind: string;
  origin?: string;
  socket_path?: string;
  scheme?: string;
  status_code?: number;
  punycode_hostname?: string;
  bastion_mode?: boolean;
}

export interface ValidateCase {
  name: string;
  config: string;
  valid: boolean;
  reason?: string;
  error_contains?: string;
  rules?: FixtureRule[];
}

export interface MatchCase {
  name: string;
  config: string;
  requests: { host: string; path: string; expect_rule_index: number }[];
}

function load<T>(file: string): T {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, 'cloudflared', file), 'utf8')) as T;
}

export const validateFixtures = load<{ reasons: Record<string, string>; cases: ValidateCase[]; source_derived_cases: ValidateCase[] }>('ingress-validate.json');
export const matchFixtures = load<{ cases: MatchCase[]; source_derived_cases: MatchCase[] }>('ingress-match.json');
