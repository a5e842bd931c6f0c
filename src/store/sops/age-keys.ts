/**
 * age identities (X25519, `AGE-SECRET-KEY-1…`) and the key file format age-keygen writes:
 * `#` comment lines, then one identity per line. Identities never appear in errors or logs.
 */
import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { generateX25519Identity, identityToRecipient as ageIdentityToRecipient } from 'age-encryption';
import { ConflictError, InvalidInputError, NotFoundError, StateUnwritableError } from '../../core/errors.ts';

/** A fresh identity and its public recipient. */
export interface AgeKeyPair {
  identity: string;
  recipient: string;
}

/** X25519 so the files stay readable by age 1.x and every sops release. */
export async function generateAgeIdentity(): Promise<AgeKeyPair> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await ageIdentityToRecipient(identity) };
}

/** The `age1…` recipient of an identity; InvalidInputError (without the identity) if malformed. */
export async function identityToRecipient(identity: string): Promise<string> {
  try {
    return await ageIdentityToRecipient(identity.trim());
  } catch {
    throw new InvalidInputError('not a valid age identity', 'age identities start with AGE-SECRET-KEY-1');
  }
}

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

/**
 * Reads an age key file: blank and `#` lines are skipped, every other line must be an
 * identity. Errors name the file and line number, never the line's content.
 */
export async function readIdentityFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') throw new NotFoundError(`age key file not found: ${file}`, 'create one with `pvdifyd keygen`');
    throw new InvalidInputError(`cannot read the age key file ${file} (${errnoCode(e) ?? 'error'})`, 'check its ownership and permissions');
  }
  const identities: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!line.startsWith('AGE-SECRET-KEY-')) {
      throw new InvalidInputError(`${file}: line ${i + 1} is not an age identity`, 'each key line starts with AGE-SECRET-KEY-; comments start with #');
    }
    try {
      await ageIdentityToRecipient(line);
    } catch {
      throw new InvalidInputError(`${file}: line ${i + 1} is a malformed age identity`, 'the key was probably truncated; restore the file');
    }
    identities.push(line);
  }
  if (identities.length === 0) throw new InvalidInputError(`${file}: no age identity in the file`, 'create a key file with `pvdifyd keygen`');
  return identities;
}

async function syncDir(dir: string): Promise<void> {
  const dh = await fsp.open(dir, 'r').catch(() => null);
  if (!dh) return;
  await dh.sync().catch(() => undefined);
  await dh.close();
}

/**
 * Generates an identity and writes it as a new key file (mode 0600; the parent directory is
 * created 0700 when missing). Refuses to overwrite: losing a key loses every secret it opens.
 * Returns the recipient.
 */
export async function writeIdentityFile(file: string, now: Date = new Date()): Promise<string> {
  const dir = path.dirname(path.resolve(file));
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new StateUnwritableError(`cannot create the directory ${dir} (${errnoCode(e) ?? 'error'})`);
  }
  const { identity, recipient } = await generateAgeIdentity();
  const created = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const body = `# created: ${created}\n# public key: ${recipient}\n${identity}\n`;
  let fh: fsp.FileHandle;
  try {
    // O_EXCL makes the no-overwrite check and the create one step, so two keygens cannot race.
    fh = await fsp.open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
  } catch (e) {
    if (errnoCode(e) === 'EEXIST') throw new ConflictError(`${file} already exists; not overwriting an age key`, 'move it away first if you really mean to replace it');
    throw new StateUnwritableError(`cannot create ${file} (${errnoCode(e) ?? 'error'})`);
  }
  try {
    await fh.chmod(0o600);
    await fh.writeFile(body, 'utf8');
    await fh.sync();
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    // A half-written key file would block the next keygen and open nothing.
    await fsp.unlink(file).catch(() => undefined);
    throw new StateUnwritableError(`cannot write ${file} (${errnoCode(e) ?? 'error'})`);
  }
  await syncDir(dir);
  return recipient;
}
