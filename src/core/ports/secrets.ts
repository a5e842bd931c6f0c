/**
 * Encrypts and decrypts config versions as SOPS YAML (age recipients). Values only live in
 * memory between `decrypt` and `encrypt`; nothing here logs them.
 */
export interface ConfigVault {
  /** A complete SOPS document with every value encrypted, `lastmodified` = `now`. */
  encrypt(values: Record<string, string>, now: Date): Promise<string>;
  /** Verifies the MAC and decrypts; throws SecretsError (no plaintext in the message) on any tampering. */
  decrypt(sopsText: string): Promise<Record<string, string>>;
}
