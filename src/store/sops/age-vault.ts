/**
 * The ConfigVault port over SOPS + age: one config version is a flat SOPS YAML map of env var
 * names to values, every value stored as `type:str`.
 */
import { InvalidInputError, SecretsError } from '../../core/errors.ts';
import { CONFIG_KEY_RE } from '../../core/names.ts';
import type { ConfigVault } from '../../core/ports/secrets.ts';
import { parseDocument } from 'yaml';
import { decryptSopsDocument, encryptSopsDocument } from './sops-file.ts';
import { encryptedLength } from './sops-value.ts';

/** Keys of a config version and the lengths of their values, read without any key. */
export function describeConfigVersion(sopsText: string): Array<{ key: string; length: number }> {
  const tree: unknown = parseDocument(sopsText, { uniqueKeys: true }).toJS({ maxAliasCount: 0 });
  if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) return [];
  return Object.entries(tree as Record<string, unknown>)
    .filter(([key]) => key !== 'sops')
    .map(([key, value]) => ({ key, length: typeof value === 'string' ? (encryptedLength(value) ?? value.length) : String(value).length }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

/** Keys: identities decrypt; recipients (usually ours plus a backup/operator key) encrypt. */
export interface AgeVaultOptions {
  identities: string[];
  recipients: string[];
}

export function createAgeVault(opts: AgeVaultOptions): ConfigVault {
  const identities = [...opts.identities];
  const recipients = [...opts.recipients];
  return {
    describe: describeConfigVersion,

    async encrypt(values: Record<string, string>, now: Date): Promise<string> {
      const tree: Record<string, string> = {};
      // Sorted so a version's file does not depend on the order keys were set in.
      for (const key of Object.keys(values).sort()) {
        // Upper-case names also keep clear of sops' `_unencrypted` suffix: every value is encrypted.
        if (!CONFIG_KEY_RE.test(key)) throw new InvalidInputError(`config key ${JSON.stringify(key)} is not a valid name`, 'config keys match [A-Z_][A-Z0-9_]* (for example DATABASE_URL)');
        const value = values[key];
        if (typeof value !== 'string') throw new InvalidInputError(`the value of ${key} is not a string`);
        tree[key] = value;
      }
      return encryptSopsDocument(tree, { recipients, now });
    },

    async decrypt(sopsText: string): Promise<Record<string, string>> {
      const tree = await decryptSopsDocument(sopsText, identities);
      if (tree === null || typeof tree !== 'object' || Array.isArray(tree)) {
        throw new SecretsError('the config file is not a map of keys to values');
      }
      const out: Record<string, string> = {};
      for (const [key, value] of Object.entries(tree as Record<string, unknown>)) {
        if (!CONFIG_KEY_RE.test(key)) throw new SecretsError(`the config file has an invalid key ${JSON.stringify(key)}`, 'config keys match [A-Z_][A-Z0-9_]*');
        // A file edited with `sops` may hold PORT: 3000 or DEBUG: true; env vars are text anyway.
        if (typeof value === 'string') out[key] = value;
        else if (typeof value === 'number' || typeof value === 'bigint') out[key] = String(value);
        else if (typeof value === 'boolean') out[key] = value ? 'true' : 'false';
        else throw new SecretsError(`config key ${key} does not hold a single value (nested maps, lists and null are not allowed)`);
      }
      return out;
    },
  };
}
