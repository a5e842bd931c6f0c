/** Shared helpers for the SOPS tests (not a test file itself). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** `<repo>/../shared/fixtures`, or PVDIFY_FIXTURES_DIR. */
export const fixturesDir = process.env.PVDIFY_FIXTURES_DIR ?? path.resolve(repoRoot, '..', 'shared', 'fixtures');

export const FIXTURE_FILE = path.join(fixturesDir, 'sops', 'sops-3.10.2-example.age.yaml');
export const FIXTURE_KEY_FILE = path.join(fixturesDir, 'sops', 'test-identity.agekey');
export const FIXTURE_RECIPIENT = 'age10e3gkzh30y999drp0xxw32h53pptfr4ye38zfavtqqeq8kqkpqzs4497gq';

export function fixtureText(): string {
  return fs.readFileSync(FIXTURE_FILE, 'utf8');
}

export function fixtureIdentity(): string {
  const line = fs.readFileSync(FIXTURE_KEY_FILE, 'utf8').split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-'));
  if (!line) throw new Error(`no identity in ${FIXTURE_KEY_FILE}`);
  return line.trim();
}

/** A fresh temp dir, removed by the returned cleanup function. */
export function makeTempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pvdify-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Every plaintext in the fixture that must never show up in an error. */
export const FIXTURE_SECRETS = [
  't00m4nys3cr3tzupdated',
  'c4r1b0u',
  'MIIBPAIBAAJBAPTMNIyHuZtpLYc7VsHQtwOkWYobkUblmHWRmbXzlAX6K8tMf3Wf',
  'secretuser1',
  'secretuser2',
  'somelongvalueAAAA',
  'some other value',
  'with something secret in it',
  'private key for secret operations',
  'sops supports unencrypted fields',
];

/** Asserts an error message/hint contain none of the given plaintexts. */
export function leaksAny(err: unknown, secrets: readonly string[]): string | undefined {
  const e = err as { message?: string; hint?: string };
  const text = `${e.message ?? ''}\n${e.hint ?? ''}`;
  return secrets.find((s) => text.includes(s));
}
