import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ConflictError, InvalidInputError, NotFoundError, SecretsError } from '../../../src/core/errors.ts';
import { generateAgeIdentity } from '../../../src/store/sops/age-keys.ts';
import { decryptFileForOperator, encryptFileForOperator, keygen } from '../../../src/store/sops/operator.ts';
import { sopsMetadata } from '../../../src/store/sops/sops-file.ts';
import { FIXTURE_FILE, FIXTURE_KEY_FILE, makeTempDir } from './support.ts';

const NOW = new Date('2026-07-08T09:10:11Z');

describe('operator: keygen and sops decrypt/encrypt', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => {
    tmp = makeTempDir();
  });
  afterEach(() => tmp.cleanup());

  it('keygen writes a key once and returns its recipient', async () => {
    const keyFile = path.join(tmp.dir, 'keys', 'age.key');
    const recipient = await keygen(keyFile, NOW);
    assert.match(recipient, /^age1/);
    assert.ok(fs.readFileSync(keyFile, 'utf8').includes(`# public key: ${recipient}\n`));
    await assert.rejects(keygen(keyFile), ConflictError);
  });

  it('decrypts the sops fixture to YAML with comments', async () => {
    const out = await decryptFileForOperator(FIXTURE_FILE, FIXTURE_KEY_FILE);
    assert.ok(out.includes('myapp1: t00m4nys3cr3tzupdated\n'));
    assert.ok(out.includes('# private key for secret operations in app2'));
    assert.ok(!out.includes('ENC['));
  });

  it('encrypts plain YAML for the key file recipient plus extras, and decrypts it back', async () => {
    const keyFile = path.join(tmp.dir, 'age.key');
    const own = await keygen(keyFile, NOW);
    const extra = await generateAgeIdentity();
    const plainFile = path.join(tmp.dir, 'plain.yaml');
    const plain = '# db settings\ndb:\n    password: hunter2\n    port: 5432\n';
    fs.writeFileSync(plainFile, plain);
    const enc = await encryptFileForOperator(plainFile, keyFile, [extra.recipient], NOW);
    assert.ok(!enc.includes('hunter2') && !enc.includes('db settings'));
    assert.deepEqual(sopsMetadata(enc).recipients, [own, extra.recipient]);
    assert.equal(sopsMetadata(enc).lastModified, '2026-07-08T09:10:11Z');

    const encFile = path.join(tmp.dir, 'secret.sops.yaml');
    fs.writeFileSync(encFile, enc);
    const back = await decryptFileForOperator(encFile, keyFile);
    assert.equal(back, plain);

    await assert.rejects(encryptFileForOperator(encFile, keyFile), (e: unknown) => e instanceof InvalidInputError && /already SOPS-encrypted/.test(e.message));
  });

  it('reports missing files and keys that do not match', async () => {
    const keyFile = path.join(tmp.dir, 'age.key');
    await keygen(keyFile);
    await assert.rejects(decryptFileForOperator(path.join(tmp.dir, 'nope.yaml'), keyFile), NotFoundError);
    await assert.rejects(decryptFileForOperator(FIXTURE_FILE, path.join(tmp.dir, 'no.key')), NotFoundError);
    await assert.rejects(decryptFileForOperator(FIXTURE_FILE, keyFile), (e: unknown) => e instanceof SecretsError && /encrypted for: age1/.test(e.message));
    const plainFile = path.join(tmp.dir, 'p.yaml');
    fs.writeFileSync(plainFile, 'a: 1\n');
    await assert.rejects(decryptFileForOperator(plainFile, keyFile), /not a SOPS file/);
    assert.deepEqual(parseYaml(fs.readFileSync(plainFile, 'utf8')), { a: 1 });
  });
});
