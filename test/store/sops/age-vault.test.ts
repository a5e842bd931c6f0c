import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decryptSops } from 'sops-age';
import { parse as parseYaml } from 'yaml';
import { InvalidInputError, SecretsError } from '../../../src/core/errors.ts';
import { generateAgeIdentity } from '../../../src/store/sops/age-keys.ts';
import { createAgeVault } from '../../../src/store/sops/age-vault.ts';
import { encryptSopsDocument, sopsMetadata } from '../../../src/store/sops/sops-file.ts';

const NOW = new Date('2026-05-06T07:08:09Z');
const VALUES = {
  DATABASE_URL: 'postgres://app:s3cret@db/app',
  API_KEY: 'sk_live_abc123',
  EMPTY: '',
  SPACES: '  padded  ',
  _UNDERSCORE: 'x',
};

describe('age-vault', () => {
  it('round-trips a flat config map; every non-empty value is an encrypted str, keys sorted', async () => {
    const k = await generateAgeIdentity();
    const vault = createAgeVault({ identities: [k.identity], recipients: [k.recipient] });
    const text = await vault.encrypt(VALUES, NOW);
    assert.deepEqual(await vault.decrypt(text), VALUES);

    const raw = parseYaml(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(raw), ['API_KEY', 'DATABASE_URL', 'EMPTY', 'SPACES', '_UNDERSCORE', 'sops']);
    for (const [key, v] of Object.entries(raw)) {
      if (key === 'sops' || key === 'EMPTY') continue;
      assert.match(String(v), /^ENC\[AES256_GCM,.*,type:str\]$/, key);
    }
    assert.equal(raw.EMPTY, '');
    assert.ok(!text.includes('s3cret') && !text.includes('sk_live'));
    assert.equal(sopsMetadata(text).lastModified, '2026-05-06T07:08:09Z');
    assert.deepEqual(await decryptSops(text, { secretKey: k.identity, fileType: 'yaml' }), VALUES);
  });

  it('encrypts for every recipient (a backup key can read what the server wrote)', async () => {
    const server = await generateAgeIdentity();
    const backup = await generateAgeIdentity();
    const vault = createAgeVault({ identities: [server.identity], recipients: [server.recipient, backup.recipient] });
    const text = await vault.encrypt({ A: '1' }, NOW);
    const backupVault = createAgeVault({ identities: [backup.identity], recipients: [backup.recipient] });
    assert.deepEqual(await backupVault.decrypt(text), { A: '1' });
  });

  it('refuses bad keys before writing anything', async () => {
    const k = await generateAgeIdentity();
    const vault = createAgeVault({ identities: [k.identity], recipients: [k.recipient] });
    await assert.rejects(vault.encrypt({ lower: 'v' }, NOW), InvalidInputError);
    await assert.rejects(vault.encrypt({ 'A-B': 'v' }, NOW), InvalidInputError);
    const none = createAgeVault({ identities: [k.identity], recipients: [] });
    await assert.rejects(none.encrypt({ A: 'v' }, NOW), /no age recipient/);
  });

  it('refuses tampering and foreign keys with SecretsError and no values', async () => {
    const k = await generateAgeIdentity();
    const other = await generateAgeIdentity();
    const vault = createAgeVault({ identities: [k.identity], recipients: [k.recipient] });
    const text = await vault.encrypt(VALUES, NOW);
    const tampered = text.replace(/API_KEY: ENC\[AES256_GCM,data:(.)/, (_m, c: string) => `API_KEY: ENC[AES256_GCM,data:${c === 'A' ? 'B' : 'A'}`);
    assert.notEqual(tampered, text);
    const check = (e: unknown): boolean => e instanceof SecretsError && !/s3cret|sk_live/.test(`${e.message} ${e.hint ?? ''}`);
    await assert.rejects(vault.decrypt(tampered), check);
    await assert.rejects(vault.decrypt(text.replace(/lastmodified: "[^"]+"/, 'lastmodified: "2026-05-06T07:08:10Z"')), check);
    const foreign = createAgeVault({ identities: [other.identity], recipients: [other.recipient] });
    await assert.rejects(foreign.decrypt(text), (e: unknown) => check(e) && (e as Error).message.includes(k.recipient));
  });

  it('reads hand-edited files with numbers and booleans as text, refuses nested ones', async () => {
    const k = await generateAgeIdentity();
    const vault = createAgeVault({ identities: [k.identity], recipients: [k.recipient] });
    const edited = await encryptSopsDocument({ PORT: 3000, RATIO: 0.5, DEBUG: true }, { recipients: [k.recipient], now: NOW });
    assert.deepEqual(await vault.decrypt(edited), { PORT: '3000', RATIO: '0.5', DEBUG: 'true' });
    const nested = await encryptSopsDocument({ DB: { URL: 'x' } }, { recipients: [k.recipient], now: NOW });
    await assert.rejects(vault.decrypt(nested), /does not hold a single value/);
    const badKey = await encryptSopsDocument({ 'not-env': 'x' }, { recipients: [k.recipient], now: NOW });
    await assert.rejects(vault.decrypt(badKey), /invalid key/);
  });
});
