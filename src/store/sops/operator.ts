/**
 * What `pvdifyd keygen` and `pvdifyd sops decrypt|encrypt FILE` do. They take paths and return
 * text; printing and exit codes belong to the CLI.
 */
import * as fsp from 'node:fs/promises';
import { InvalidInputError, NotFoundError } from '../../core/errors.ts';
import { identityToRecipient, readIdentityFile, writeIdentityFile } from './age-keys.ts';
import { decryptSopsYaml, encryptSopsYaml, isSopsDocument } from './sops-file.ts';

/** Creates the age key file (refuses an existing one) and returns its public recipient. */
export async function keygen(keyFile: string, now: Date = new Date()): Promise<string> {
  return writeIdentityFile(keyFile, now);
}

async function readInput(file: string): Promise<string> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException | null)?.code;
    if (code === 'ENOENT') throw new NotFoundError(`file not found: ${file}`);
    throw new InvalidInputError(`cannot read ${file} (${code ?? 'error'})`, 'check its ownership and permissions');
  }
}

/** Decrypts a SOPS file with the identities of the key file; returns YAML with values and comments in clear. */
export async function decryptFileForOperator(file: string, keyFile: string): Promise<string> {
  const text = await readInput(file);
  const identities = await readIdentityFile(keyFile);
  return decryptSopsYaml(text, identities);
}

/**
 * Encrypts a plain YAML file for the recipient(s) of the key file plus `extraRecipients`.
 * Refuses a file that is already SOPS-encrypted (encrypting twice would hide the data key).
 */
export async function encryptFileForOperator(
  file: string,
  keyFile: string,
  extraRecipients: readonly string[] = [],
  now: Date = new Date(),
): Promise<string> {
  const text = await readInput(file);
  if (isSopsDocument(text)) {
    throw new InvalidInputError(`${file} is already SOPS-encrypted`, 'decrypt it first with `pvdifyd sops decrypt`');
  }
  const identities = await readIdentityFile(keyFile);
  const own = await Promise.all(identities.map((i) => identityToRecipient(i)));
  const recipients = [...new Set([...own, ...extraRecipients])];
  return encryptSopsYaml(text, { recipients, now });
}
