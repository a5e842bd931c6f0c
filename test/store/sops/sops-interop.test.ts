/**
 * Files we write must open with implementations that share no code with ours: the `sops-age`
 * npm package for the values, the `age` CLI for the data key, and a MAC recomputed here by hand
 * with node:crypto from the bytes Go sops hashes.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { decryptSops } from 'sops-age';
import { parse as parseYaml } from 'yaml';
import { generateAgeIdentity } from '../../../src/store/sops/age-keys.ts';
import { encryptSopsDocument } from '../../../src/store/sops/sops-file.ts';
import { makeTempDir } from './support.ts';

const NOW = new Date('2026-01-02T03:04:05Z');

const tree = {
  name: 'pvdify',
  port: 3000,
  ratio: 0.125,
  enabled: true,
  off: false,
  nested: { db: { user: 'app', password: 'p@ss:w0rd' }, list: ['one', 'two', { deep: 'three' }] },
  note_unencrypted: 'visible',
  unicode: 'grüße',
};

/** What Go sops hashes for `tree`, in document order (bools as True/False). */
const GO_MAC_INPUT = ['pvdify', '3000', '0.125', 'True', 'False', 'app', 'p@ss:w0rd', 'one', 'two', 'three', 'visible', 'grüße'];

interface SopsBlock {
  age: Array<{ recipient: string; enc: string }>;
  lastmodified: string;
  mac: string;
}

function gcmOpen(enc: string, key: Buffer, aad: string): string {
  const m = /^ENC\[AES256_GCM,data:(.*),iv:(.*),tag:(.*),type:(.*)\]$/.exec(enc);
  assert.ok(m, 'ENC format');
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(m[2]!, 'base64'));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(Buffer.from(m[3]!, 'base64'));
  return Buffer.concat([d.update(Buffer.from(m[1]!, 'base64')), d.final()]).toString('utf8');
}

async function haveAgeCli(): Promise<boolean> {
  try {
    await execa('age', ['--version']);
    return true;
  } catch {
    return false;
  }
}

describe('sops interop: files we write', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => {
    tmp = makeTempDir();
  });
  after(() => tmp.cleanup());

  it('decrypt with the sops-age package', async () => {
    const a = await generateAgeIdentity();
    const b = await generateAgeIdentity();
    const text = await encryptSopsDocument(tree, { recipients: [a.recipient, b.recipient], now: NOW });
    assert.deepEqual(await decryptSops(text, { secretKey: a.identity, fileType: 'yaml' }), tree);
    assert.deepEqual(await decryptSops(text, { secretKey: b.identity, fileType: 'yaml' }), tree);
  });

  it('decrypt with sops-age under encrypted_regex and encrypted_suffix too', async () => {
    const a = await generateAgeIdentity();
    for (const sel of [{ encryptedRegex: '^(db|list)$' }, { encryptedSuffix: 'name' }, { unencryptedRegex: '^ratio$' }]) {
      const text = await encryptSopsDocument(tree, { recipients: [a.recipient], now: NOW, ...sel });
      assert.deepEqual(await decryptSops(text, { secretKey: a.identity, fileType: 'yaml' }), tree, JSON.stringify(sel));
    }
  });

  it('carry a data key the age CLI unwraps, and a MAC that matches Go sops bytes', async (t) => {
    if (!(await haveAgeCli())) {
      t.skip('age CLI not installed');
      return;
    }
    const keys = [await generateAgeIdentity(), await generateAgeIdentity()];
    const text = await encryptSopsDocument(tree, { recipients: keys.map((k) => k.recipient), now: NOW });
    const doc = parseYaml(text) as Record<string, unknown> & { sops: SopsBlock };
    assert.equal(doc.sops.age.length, 2);

    const dataKeys: Buffer[] = [];
    for (const [i, k] of keys.entries()) {
      const entry = doc.sops.age[i]!;
      assert.equal(entry.recipient, k.recipient);
      assert.match(entry.enc, /^-----BEGIN AGE ENCRYPTED FILE-----\n[\s\S]+\n-----END AGE ENCRYPTED FILE-----\n$/);
      const keyFile = path.join(tmp.dir, `key-${i}.txt`);
      const encFile = path.join(tmp.dir, `enc-${i}.age`);
      fs.writeFileSync(keyFile, `${k.identity}\n`, { mode: 0o600 });
      fs.writeFileSync(encFile, entry.enc);
      const out = await execa('age', ['-d', '-i', keyFile, encFile], { encoding: 'buffer' });
      assert.equal(out.stdout.length, 32, 'the data key is 32 bytes');
      dataKeys.push(Buffer.from(out.stdout));
      // The other recipient's identity must not open this block.
      const otherKey = path.join(tmp.dir, `key-${1 - i}.txt`);
      if (fs.existsSync(otherKey)) {
        await assert.rejects(execa('age', ['-d', '-i', otherKey, encFile]));
      }
    }
    assert.ok(dataKeys[0]!.equals(dataKeys[1]!), 'both recipients get the same data key');
    const key = dataKeys[0]!;

    // Values: AAD is the key path joined with ':' plus a trailing ':'; list indices do not count.
    const nested = doc.nested as { db: { password: string }; list: [string, string, { deep: string }] };
    assert.equal(gcmOpen(nested.db.password, key, 'nested:db:password:'), 'p@ss:w0rd');
    assert.equal(gcmOpen(nested.list[2].deep, key, 'nested:list:deep:'), 'three');
    assert.equal(gcmOpen(doc.enabled as string, key, 'enabled:'), 'True');
    assert.equal(doc.note_unencrypted, 'visible');

    // MAC: SHA-512 over the plaintext bytes, upper-case hex, encrypted with lastmodified as AAD.
    assert.equal(doc.sops.lastmodified, '2026-01-02T03:04:05Z');
    const expected = createHash('sha512').update(GO_MAC_INPUT.join(''), 'utf8').digest('hex').toUpperCase();
    assert.equal(gcmOpen(doc.sops.mac, key, doc.sops.lastmodified), expected);
  });
});
