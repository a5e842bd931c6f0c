/**
 * Encrypts and decrypts config versions as SOPS YAML (age recipients). Values only live in
 * memory between `decrypt` and `encrypt`; nothing here logs them.
 */
export interface ConfigVault {
  /** A complete SOPS document with every value encrypted, `lastmodified` = `now`. */
  encrypt(values: Record<string, string>, now: Date): Promise<string>;
  /**
   * Keys and value lengths without decrypting (no key needed; the lengths are public anyway, as
   * the ciphertext's). What `config` shows.
   */
  describe(sopsText: string): Array<{ key: string; length: number }>;
  /** Verifies the MAC and decrypts; throws SecretsError (no plaintext in the message) on any tampering. */
  decrypt(sopsText: string): Promise<Record<string, string>>;
}
