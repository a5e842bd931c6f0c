/**
 * The SOPS data key (32 random bytes) wrapped for age recipients: one armored age file per
 * recipient, as `sops.age[].enc`, so each entry can be added or removed on its own.
 */
import { Decrypter, Encrypter, armor } from 'age-encryption';
import { InvalidInputError, SecretsError } from '../../core/errors.ts';

export const DATA_KEY_BYTES = 32;

/** One `sops.age[]` entry. */
export interface AgeKeyEntry {
  recipient: string;
  enc: string;
}

/** X25519 (`age1…`) and the post-quantum hybrid (`age1pq1…`) recipients age-encryption accepts. */
const RECIPIENT_RE = /^age1[02-9ac-hj-np-z]{20,}$/;

export function isAgeRecipient(text: string): boolean {
  return RECIPIENT_RE.test(text);
}

/** Wraps the data key for each recipient. Recipients are public, so naming them in errors is fine. */
export async function wrapDataKey(dataKey: Uint8Array, recipients: readonly string[]): Promise<AgeKeyEntry[]> {
  if (recipients.length === 0) {
    throw new InvalidInputError('no age recipient given', 'pass at least one age1… public key (see `pvdifyd keygen`)');
  }
  const entries: AgeKeyEntry[] = [];
  for (const recipient of recipients) {
    if (!isAgeRecipient(recipient)) {
      throw new InvalidInputError(`not an age recipient: ${JSON.stringify(recipient.slice(0, 80))}`, 'age recipients look like age1…');
    }
    const e = new Encrypter();
    try {
      e.addRecipient(recipient);
    } catch {
      throw new InvalidInputError(`not a valid age recipient: ${recipient}`, 'check for typos; age recipients are bech32 strings starting with age1');
    }
    entries.push({ recipient, enc: armor.encode(await e.encrypt(dataKey)) });
  }
  return entries;
}

/**
 * Unwraps the data key with the first entry one of the identities opens. Fails with a
 * SecretsError naming the recipients the file is for (never the identities).
 */
export async function unwrapDataKey(entries: readonly AgeKeyEntry[], identities: readonly string[]): Promise<Uint8Array> {
  const forWhom = entries.map((e) => e.recipient).join(', ') || '(no age recipients)';
  if (identities.length === 0) {
    throw new SecretsError(`no age identity available to decrypt this file (it is for: ${forWhom})`, 'configure the age key file (see `pvdifyd keygen`)');
  }
  const d = new Decrypter();
  for (const identity of identities) {
    try {
      d.addIdentity(identity);
    } catch {
      throw new SecretsError('an age identity in the key file is malformed', 'check the key file: each key line starts with AGE-SECRET-KEY-');
    }
  }
  let damaged = false;
  for (const entry of entries) {
    let file: Uint8Array;
    try {
      file = armor.decode(entry.enc);
    } catch {
      damaged = true;
      continue;
    }
    let key: Uint8Array;
    try {
      key = await d.decrypt(file);
    } catch (e) {
      // age reports "no identity matched" for a file not meant for us; anything else means the
      // block is ours but damaged, which is worth saying.
      if (!/no identity matched/i.test(String((e as Error)?.message))) damaged = true;
      continue;
    }
    if (key.length !== DATA_KEY_BYTES) {
      damaged = true;
      continue;
    }
    return key;
  }
  throw new SecretsError(
    damaged
      ? `cannot decrypt the data key: an age block is damaged and no other matches our identities (file is for: ${forWhom})`
      : `none of our age identities can decrypt this file; it is encrypted for: ${forWhom}`,
    'use the identity of one of those recipients, or have the file re-encrypted for our recipient',
  );
}
