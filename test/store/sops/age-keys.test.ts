import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { execa } from 'execa';
import { ConflictError, InvalidInputError, NotFoundError } from '../../../src/core/errors.ts';
import {
  generateAgeIdentity,
  identityToRecipient,
  readIdentityFile,
  writeIdentityFile,
} from '../../../src/store/sops/age-keys.ts';
import { FIXTURE_KEY_FILE, FIXTURE_RECIPIENT, makeTempDir } from './support.ts';

describe('age-keys', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => {
    tmp = makeTempDir();
  });
  afterEach(() => tmp.cleanup());

  it('generates X25519 identities whose recipient matches', async () => {
    const a = await generateAgeIdentity();
    const b = await generateAgeIdentity();
    assert.match(a.identity, /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
    assert.match(a.recipient, /^age1[0-9a-z]{58}$/);
    assert.notEqual(a.identity, b.identity);
    assert.equal(await identityToRecipient(a.identity), a.recipient);
  });

  it('derives the fixture recipient and rejects garbage without echoing it', async () => {
    const ids = await readIdentityFile(FIXTURE_KEY_FILE);
    assert.equal(ids.length, 1);
    assert.equal(await identityToRecipient(ids[0]!), FIXTURE_RECIPIENT);
    await assert.rejects(identityToRecipient('AGE-SECRET-KEY-1NOPE'), (e: unknown) => e instanceof InvalidInputError && !e.message.includes('NOPE'));
  });

  it('reads age-keygen style files: comments, blank lines, several keys', async () => {
    const a = await generateAgeIdentity();
    const b = await generateAgeIdentity();
    const file = path.join(tmp.dir, 'keys.txt');
    fs.writeFileSync(file, `# created: 2026-01-01T00:00:00Z\n# public key: ${a.recipient}\n${a.identity}\n\n# second\n  ${b.identity}  \r\n`);
    assert.deepEqual(await readIdentityFile(file), [a.identity, b.identity]);
  });

  it('refuses missing, empty and malformed key files, naming the line but not its content', async () => {
    await assert.rejects(readIdentityFile(path.join(tmp.dir, 'absent')), NotFoundError);
    const empty = path.join(tmp.dir, 'empty');
    fs.writeFileSync(empty, '# only a comment\n');
    await assert.rejects(readIdentityFile(empty), /no age identity/);
    const bad = path.join(tmp.dir, 'bad');
    const a = await generateAgeIdentity();
    fs.writeFileSync(bad, `# c\n${a.identity}\nSECRET-LOOKING-LINE\n`);
    await assert.rejects(readIdentityFile(bad), (e: unknown) => e instanceof InvalidInputError && /line 3 is not an age identity/.test(e.message) && !e.message.includes('SECRET-LOOKING'));
    const truncated = path.join(tmp.dir, 'truncated');
    fs.writeFileSync(truncated, `${a.identity.slice(0, 40)}\n`);
    await assert.rejects(readIdentityFile(truncated), (e: unknown) => e instanceof InvalidInputError && /line 1 is a malformed/.test(e.message) && !e.message.includes(a.identity.slice(16, 40)));
  });

  it('writes a new key file 0600 in a new 0700 directory, in age-keygen format', async () => {
    const file = path.join(tmp.dir, 'etc', 'pvdify', 'age.key');
    const recipient = await writeIdentityFile(file, new Date('2026-02-03T04:05:06.789Z'));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    assert.equal(lines[0], '# created: 2026-02-03T04:05:06Z');
    assert.equal(lines[1], `# public key: ${recipient}`);
    assert.match(lines[2]!, /^AGE-SECRET-KEY-1/);
    assert.equal(lines[3], '');
    const ids = await readIdentityFile(file);
    assert.equal(await identityToRecipient(ids[0]!), recipient);
  });

  it('never overwrites an existing key file', async () => {
    const file = path.join(tmp.dir, 'age.key');
    await writeIdentityFile(file);
    const before = fs.readFileSync(file, 'utf8');
    await assert.rejects(writeIdentityFile(file), ConflictError);
    assert.equal(fs.readFileSync(file, 'utf8'), before);
  });

  it('writes a file the age CLI accepts as an identity file', async (t) => {
    const probe = await execa('age', ['--version'], { reject: false });
    if (probe.exitCode !== 0) {
      t.skip('age CLI not installed');
      return;
    }
    const file = path.join(tmp.dir, 'age.key');
    const recipient = await writeIdentityFile(file);
    const enc = await execa('age', ['-r', recipient, '-a'], { input: 'hello' });
    const dec = await execa('age', ['-d', '-i', file], { input: enc.stdout });
    assert.equal(dec.stdout, 'hello');
    const keygenStyle = await execa('age-keygen', ['-y', file], { reject: false });
    if (keygenStyle.exitCode === 0) assert.equal(keygenStyle.stdout.trim(), recipient);
  });
});
