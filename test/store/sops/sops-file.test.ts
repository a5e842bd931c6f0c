import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { InvalidInputError, SecretsError } from '../../../src/core/errors.ts';
import { generateAgeIdentity } from '../../../src/store/sops/age-keys.ts';
import {
  canonicalLastModified,
  decryptSopsDocument,
  decryptSopsYaml,
  encryptSopsDocument,
  encryptSopsYaml,
  isSopsDocument,
  sopsMetadata,
} from '../../../src/store/sops/sops-file.ts';
import type { SopsEncryptOptions } from '../../../src/store/sops/sops-file.ts';
import { FIXTURE_RECIPIENT, FIXTURE_SECRETS, fixtureIdentity, fixtureText, leaksAny } from './support.ts';

const RSA_KEY = `-----BEGIN RSA PRIVATE KEY-----
MIIBPAIBAAJBAPTMNIyHuZtpLYc7VsHQtwOkWYobkUblmHWRmbXzlAX6K8tMf3Wf
ImcbNkqAKnELzFAPSBeEMhrBN0PyOC9lYlMCAwEAAQJBALXD4sjuBn1E7Y9aGiMz
bJEBuZJ4wbhYxomVoQKfaCu+kH80uLFZKoSz85/ySauWE8LgZcMLIBoiXNhDKfQL
vHECIQD6tCG9NMFWor69kgbX8vK5Y+QL+kRq+9HK6yZ9a+hsLQIhAPn4Ie6HGTjw
fHSTXWZpGSan7NwTkIu4U5q2SlLjcZh/AiEA78NYRRBwGwAYNUqzutGBqyXKUl4u
Erb0xAEyVV7e8J0CIQC8VBY8f8yg+Y7Kxbw4zDYGyb3KkXL10YorpeuZR4LuQQIg
bKGPkMM4w5blyE1tqGN0T7sJwEx+EUOgacRNqM2ljVA=
-----END RSA PRIVATE KEY-----
`;

const FIXTURE_PLAIN = {
  myapp1: 't00m4nys3cr3tzupdated',
  app2: { db: { user: 'eve', password: 'c4r1b0u' }, key: RSA_KEY },
  number: 1234568000,
  an_array: ['secretuser1', 'secretuser2', 'somelongvalueAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'some other value'],
  somebooleans: [true, false],
  this: { is: { a: { nested: { value: 'with something secret in it' } } } },
  somelist_unencrypted: ['all elements of this list', 'remain in clear text', 'because of the _unencrypted suffix in the key'],
  nested_unencrypted: { this: { is: { all: 'going to remain in clear text' } } },
};

const NOW = new Date('2026-03-04T05:06:07.890Z');

/** Replaces exactly one occurrence; a test whose edit did not apply must not pass. */
function edit(text: string, from: string | RegExp, to: string): string {
  const out = text.replace(from, to);
  assert.notEqual(out, text, `edit ${String(from)} did not apply`);
  return out;
}

/** Flips the first base64 character after `marker` (which must occur in the text). */
function flipAfter(text: string, marker: string): string {
  const i = text.indexOf(marker);
  assert.ok(i >= 0, `marker ${marker} not found`);
  const at = i + marker.length;
  const c = text[at];
  const repl = c === 'A' ? 'B' : 'A';
  return text.slice(0, at) + repl + text.slice(at + 1);
}

async function assertRefused(text: string, identities: string[], pattern: RegExp, secrets: readonly string[] = FIXTURE_SECRETS): Promise<void> {
  let caught: unknown;
  let result: unknown;
  try {
    result = await decryptSopsDocument(text, identities);
  } catch (e) {
    caught = e;
  }
  assert.equal(result, undefined, 'no plaintext may be returned');
  assert.ok(caught instanceof SecretsError, `expected SecretsError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  assert.equal(leaksAny(caught, secrets), undefined, `error leaks plaintext: ${caught.message}`);
}

async function keyPair(): Promise<{ identity: string; recipient: string }> {
  return generateAgeIdentity();
}

describe('sops-file: reading a file written by sops 3.10.2', () => {
  it('decrypts every value of the fixture exactly', async () => {
    const tree = await decryptSopsDocument(fixtureText(), [fixtureIdentity()]);
    assert.deepEqual(tree, FIXTURE_PLAIN);
    assert.deepEqual(Object.keys(tree as object), Object.keys(FIXTURE_PLAIN), 'key order is kept');
  });

  it('decrypts the comments and keeps order in the YAML output', async () => {
    const yaml = await decryptSopsYaml(fixtureText(), [fixtureIdentity()]);
    const lines = yaml.split('\n');
    const at = (s: string): number => {
      const i = lines.findIndex((l) => l === s);
      assert.ok(i >= 0, `line ${JSON.stringify(s)} missing from:\n${yaml}`);
      return i;
    };
    const pw = at('        password: c4r1b0u');
    assert.equal(at('        # private key for secret operations in app2'), pw + 1);
    const nested = at('                value: with something secret in it');
    assert.equal(at('                # sops supports unencrypted fields'), nested + 1);
    assert.equal(at('                # by adding the `_unencrypted` suffix'), nested + 2);
    assert.equal(at('                # to any key'), nested + 3);
    assert.ok(at('myapp1: t00m4nys3cr3tzupdated') < at('number: 1234568000.0'));
    assert.ok(!yaml.includes('ENC['), 'nothing stays encrypted');
    assert.ok(!yaml.includes('sops:'), 'metadata is not part of the output');
    assert.deepEqual(parseYaml(yaml), FIXTURE_PLAIN);
  });

  it('reports the metadata without a key', () => {
    const meta = sopsMetadata(fixtureText());
    assert.deepEqual(meta, {
      recipients: [FIXTURE_RECIPIENT],
      lastModified: '2025-08-06T18:55:05Z',
      version: '3.10.2',
      macOnlyEncrypted: false,
      selector: { kind: 'unencrypted_suffix', value: '_unencrypted' },
    });
    assert.equal(isSopsDocument(fixtureText()), true);
    assert.equal(isSopsDocument('a: 1\n'), false);
    assert.equal(isSopsDocument('not: [valid'), false);
    assert.throws(() => sopsMetadata('a: 1\n'), SecretsError);
  });

  it('names the recipients when no identity can open the data key', async () => {
    const other = await keyPair();
    await assertRefused(fixtureText(), [other.identity], new RegExp(`encrypted for: ${FIXTURE_RECIPIENT}`));
    assert.ok(!(await captureMessage(fixtureText(), [other.identity])).includes(other.identity), 'identity not in the message');
    await assertRefused(fixtureText(), [], /no age identity/);
  });
});

async function captureMessage(text: string, ids: string[]): Promise<string> {
  try {
    await decryptSopsDocument(text, ids);
  } catch (e) {
    return `${(e as Error).message} ${(e as SecretsError).hint ?? ''}`;
  }
  return '';
}

describe('sops-file: tampering is refused with no plaintext', () => {
  const cases: Array<[string, (t: string) => string, RegExp]> = [
    ['data of a top-level value', (t) => flipAfter(t, 'myapp1: ENC[AES256_GCM,data:'), /myapp1: cannot decrypt/],
    ['iv of a nested value', (t) => flipAfter(t, 'password: ENC[AES256_GCM,data:8Ll+TDCgzQ==,iv:'), /app2\.db\.password: cannot decrypt/],
    ['tag of a list item', (t) => flipAfter(t, 'iv:mKcwVelqLvwVDPjR8NeyMZ7AhsjRgmnYmyEuwPNPrQ8=,tag:'), /an_array\[2\]: cannot decrypt/],
    ['data of a bool', (t) => flipAfter(t, '- ENC[AES256_GCM,data:'), /cannot decrypt/],
    ['the MAC data', (t) => flipAfter(t, 'mac: ENC[AES256_GCM,data:'), /MAC cannot be decrypted/],
    ['the MAC tag', (t) => flipAfter(t, 'iv:V1kH6xaXDIb8NHYNm4A5ilTInizW7gw8nWhINZh9OJs=,tag:'), /MAC cannot be decrypted/],
    ['lastmodified by one second', (t) => edit(t, '2025-08-06T18:55:05Z', '2025-08-06T18:55:06Z'), /MAC cannot be decrypted/],
    ['lastmodified to garbage', (t) => edit(t, '"2025-08-06T18:55:05Z"', '"yesterday"'), /RFC 3339/],
    ['a clear-text value', (t) => edit(t, 'remain in clear text', 'remain in plain text'), /MAC mismatch/],
    ['two encrypted values swapped between keys', (t) => {
      const user = /user: (ENC\[[^\]]+\])/.exec(t)![1]!;
      const pw = /password: (ENC\[[^\]]+\])/.exec(t)![1]!;
      return t.replace(user, 'USER').replace(pw, user).replace('USER', pw);
    }, /app2\.db\.(user|password): cannot decrypt/],
    ['two list items swapped', (t) => {
      const lines = t.split('\n');
      const i = lines.findIndex((l) => l.includes('data:vyczE8EQr9qHkaM='));
      [lines[i], lines[i + 1]] = [lines[i + 1]!, lines[i]!];
      return lines.join('\n');
    }, /MAC mismatch/],
    ['a key removed', (t) => edit(t, /^myapp1: .*\n/m, ''), /MAC mismatch/],
    ['an encrypted value replaced by clear text', (t) => edit(t, /myapp1: ENC\[[^\]]+\]/, 'myapp1: hunter2'), /myapp1: cannot decrypt/],
    ['an encrypted value emptied', (t) => edit(t, /myapp1: ENC\[[^\]]+\]/, 'myapp1: ""'), /MAC mismatch/],
    ['mac_only_encrypted switched on', (t) => edit(t, '    version: 3.10.2', '    mac_only_encrypted: true\n    version: 3.10.2'), /MAC mismatch/],
    ['the selector changed so a clear-text list counts as encrypted', (t) => edit(t, 'unencrypted_suffix: _unencrypted', 'unencrypted_suffix: _nothing'), /cannot decrypt/],
    ['an encrypted comment', (t) => flipAfter(t, '#ENC[AES256_GCM,data:'), /encrypted comment near .* cannot be decrypted/],
    ['the MAC removed', (t) => edit(t, /^ {4}mac: .*\n/m, ''), /no MAC/],
    ['the age block damaged', (t) => edit(t, 'YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSA2OS81bUkzaWhub0dBdlhI', 'YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSA2OS81bUkzaWhub0dBdlhJ'), /cannot decrypt the data key|none of our age identities/],
  ];
  for (const [name, mutate, pattern] of cases) {
    it(`refuses: ${name}`, async () => {
      await assertRefused(mutate(fixtureText()), [fixtureIdentity()], pattern);
    });
  }

  it('refuses a changed type tag when the plaintext bytes differ (GCM does not cover the tag; the MAC does)', async () => {
    const me = await keyPair();
    const text = await encryptSopsDocument({ code: '007', ratio: 1.5 }, { recipients: [me.recipient], now: NOW });
    await assertRefused(edit(text, /(code: ENC\[[^\]]+)type:str\]/, '$1type:int]'), [me.identity], /MAC mismatch/, ['007']);
    await assertRefused(edit(text, /(ratio: ENC\[[^\]]+)type:float\]/, '$1type:int]'), [me.identity], /ratio: cannot decrypt the value: type int does not hold an integer/, ['1.5']);
  });

  it('still decrypts the untouched fixture (the edits above are what fails)', async () => {
    assert.deepEqual(await decryptSopsDocument(fixtureText(), [fixtureIdentity()]), FIXTURE_PLAIN);
  });
});

describe('sops-file: writing', () => {
  const tree = {
    name: 'pvdify',
    port: 3000,
    ratio: 0.25,
    negative: -1.5,
    huge: 1e21,
    tiny: 1e-7,
    enabled: true,
    disabled: false,
    empty: '',
    nothing: null,
    unicode: 'grüße ✓ 日本',
    multiline: 'line one\nline two\n',
    looks_like_number: '0123',
    nested: { deeper: { list: ['a', 2, { inner: 'b' }], flag: false } },
    plain_unencrypted: { host: 'db.local', port: 5432 },
  };

  it('round-trips every type, keeps key order, encrypts each leaf with its type', async () => {
    const me = await keyPair();
    const text = await encryptSopsDocument(tree, { recipients: [me.recipient], now: NOW });
    assert.deepEqual(await decryptSopsDocument(text, [me.identity]), tree);

    const raw = parseYaml(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(raw), [...Object.keys(tree), 'sops']);
    const typeOf = (v: unknown): string => /type:(\w+)\]$/.exec(String(v))?.[1] ?? 'plain';
    assert.equal(typeOf(raw.name), 'str');
    assert.equal(typeOf(raw.port), 'int');
    assert.equal(typeOf(raw.ratio), 'float');
    assert.equal(typeOf(raw.huge), 'float');
    assert.equal(typeOf(raw.enabled), 'bool');
    assert.equal(typeOf(raw.looks_like_number), 'str');
    assert.equal(raw.empty, '', 'sops leaves empty strings empty');
    assert.equal(raw.nothing, null, 'null is not encrypted');
    assert.deepEqual(raw.plain_unencrypted, { host: 'db.local', port: 5432 });
    const list = (raw.nested as { deeper: { list: unknown[] } }).deeper.list;
    assert.equal(typeOf(list[0]), 'str');
    assert.equal(typeOf(list[1]), 'int');
    assert.equal(typeOf((list[2] as { inner: unknown }).inner), 'str');
    for (const secret of ['pvdify', 'grüße', 'line one']) assert.ok(!text.includes(secret), `${secret} appears in clear`);
  });

  it('writes sops-style YAML: 4-space indent, sorted metadata, quoted lastmodified', async () => {
    const me = await keyPair();
    const text = await encryptSopsDocument({ a: { b: ['x'] } }, { recipients: [me.recipient], now: NOW });
    const lines = text.split('\n');
    assert.equal(lines[0], 'a:');
    assert.match(lines[1]!, /^ {4}b:$/);
    assert.match(lines[2]!, /^ {8}- ENC\[AES256_GCM,data:[^,]+,iv:[A-Za-z0-9+/]{43}=,tag:[A-Za-z0-9+/]{22}==,type:str\]$/);
    assert.ok(text.includes('    lastmodified: "2026-03-04T05:06:07Z"\n'));
    assert.ok(text.includes(`        - recipient: ${me.recipient}\n          enc: |\n              -----BEGIN AGE ENCRYPTED FILE-----\n`));
    const sops = (parseYaml(text) as { sops: Record<string, unknown> }).sops;
    assert.deepEqual(Object.keys(sops), ['age', 'lastmodified', 'mac', 'unencrypted_suffix', 'version']);
    assert.equal(sops.unencrypted_suffix, '_unencrypted');
    assert.equal(sops.version, '3.10.2');
  });

  it('uses a fresh data key and IVs every time', async () => {
    const me = await keyPair();
    const a = await encryptSopsDocument({ k: 'same' }, { recipients: [me.recipient], now: NOW });
    const b = await encryptSopsDocument({ k: 'same' }, { recipients: [me.recipient], now: NOW });
    assert.notEqual(/k: (.*)/.exec(a)![1], /k: (.*)/.exec(b)![1]);
  });

  it('gives each of several recipients the data key; others are told who can open it', async () => {
    const keys = [await keyPair(), await keyPair(), await keyPair()];
    const text = await encryptSopsDocument({ secret: 's3cr3t-value' }, { recipients: keys.map((k) => k.recipient), now: NOW });
    for (const k of keys) assert.deepEqual(await decryptSopsDocument(text, [k.identity]), { secret: 's3cr3t-value' });
    assert.deepEqual(sopsMetadata(text).recipients, keys.map((k) => k.recipient));
    const stranger = await keyPair();
    await assertRefused(text, [stranger.identity], new RegExp(keys.map((k) => k.recipient).join(', ')), ['s3cr3t-value']);
    // Several identities at once: the one that matches wins.
    assert.deepEqual(await decryptSopsDocument(text, [stranger.identity, keys[2]!.identity]), { secret: 's3cr3t-value' });
  });

  it('refuses what it cannot write faithfully', async () => {
    const me = await keyPair();
    const opts: SopsEncryptOptions = { recipients: [me.recipient], now: NOW };
    await assert.rejects(encryptSopsDocument({ sops: { x: 1 } }, opts), /already has a top-level "sops" key/);
    await assert.rejects(encryptSopsDocument(['a'], opts), InvalidInputError);
    await assert.rejects(encryptSopsDocument({ when: new Date() }, opts), /when: only plain objects/);
    await assert.rejects(encryptSopsDocument({ f: () => 1 }, opts), /f: unsupported value type function/);
    await assert.rejects(encryptSopsDocument({ big: 2n ** 64n }, opts), /big: the integer does not fit in 64 bits/);
    await assert.rejects(encryptSopsDocument({ a: 'x' }, { ...opts, recipients: [] }), /no age recipient/);
    await assert.rejects(encryptSopsDocument({ a: 'x' }, { ...opts, recipients: ['age1notakey'] }), InvalidInputError);
    await assert.rejects(encryptSopsDocument({ a: 'x' }, { ...opts, now: new Date('nope') }), InvalidInputError);
    await assert.rejects(encryptSopsDocument({ a: 'x' }, { ...opts, encryptedSuffix: '_s', encryptedRegex: 'x' }), /only one of/);
    await assert.rejects(encryptSopsDocument({ a: 'x' }, { ...opts, encryptedRegex: '(' }), /not valid/);
    await assert.rejects(encryptSopsYaml('a: 1\n---\nb: 2\n', opts), /several documents/);
    await assert.rejects(encryptSopsYaml('a: &x 1\nb: *x\n', opts), /aliases/);
    await assert.rejects(encryptSopsYaml('- a\n- b\n', opts), /top level .* must be a map/);
    await assert.rejects(encryptSopsYaml('1: one\n', opts), /not a string/);
    const err = await encryptSopsYaml('password: "hunter2\n', opts).catch((e: unknown) => e);
    assert.ok(err instanceof InvalidInputError);
    assert.ok(!err.message.includes('hunter2'), 'parse errors do not quote the source');
  });
});

describe('sops-file: selectors and mac_only_encrypted', () => {
  const encryptedLeaves = (text: string): string[] => {
    const out: string[] = [];
    const walk = (v: unknown, p: string): void => {
      if (typeof v === 'string' && v.startsWith('ENC[')) out.push(p);
      else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}[${i}]`));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (k !== 'sops' || p !== '') walk(x, p ? `${p}.${k}` : k);
    };
    walk(parseYaml(text), '');
    return out.sort();
  };

  const doc = {
    apiVersion: 'v1',
    metadata: { name: 'web', labels: { tier: 'front' } },
    data: { password: 'pw', token: 'tk' },
    db_secret: { user: 'u', pass: 'p' },
    list_secret: ['one', 'two'],
    note_unencrypted: 'clear',
    host: 'h',
  };

  const cases: Array<[string, Partial<SopsEncryptOptions>, string, string[]]> = [
    ['unencryptedSuffix (default)', {}, 'unencrypted_suffix', [
      'apiVersion', 'data.password', 'data.token', 'db_secret.pass', 'db_secret.user', 'host',
      'list_secret[0]', 'list_secret[1]', 'metadata.labels.tier', 'metadata.name']],
    ['encryptedSuffix', { encryptedSuffix: '_secret' }, 'encrypted_suffix', ['db_secret.pass', 'db_secret.user', 'list_secret[0]', 'list_secret[1]']],
    ['encryptedRegex', { encryptedRegex: '^(data|stringData)$' }, 'encrypted_regex', ['data.password', 'data.token']],
    ['unencryptedRegex', { unencryptedRegex: '^(apiVersion|metadata|host)$' }, 'unencrypted_regex', [
      'data.password', 'data.token', 'db_secret.pass', 'db_secret.user', 'list_secret[0]', 'list_secret[1]', 'note_unencrypted']],
    ['encryptedRegex with a Go-style (?i) flag', { encryptedRegex: '(?i)^DATA$' }, 'encrypted_regex', ['data.password', 'data.token']],
  ];
  for (const [name, sel, metaKey, expected] of cases) {
    it(`${name}: encrypts exactly the selected leaves and reads them back`, async () => {
      const me = await keyPair();
      const text = await encryptSopsDocument(doc, { recipients: [me.recipient], now: NOW, ...sel });
      assert.deepEqual(encryptedLeaves(text), expected);
      const meta = (parseYaml(text) as { sops: Record<string, unknown> }).sops;
      assert.equal(typeof meta[metaKey], 'string');
      assert.equal(sopsMetadata(text).selector.kind, metaKey);
      assert.deepEqual(await decryptSopsDocument(text, [me.identity]), doc);
    });
  }

  it('mac_only_encrypted: clear-text leaves may change, encrypted ones may not', async () => {
    const me = await keyPair();
    const text = await encryptSopsDocument(doc, { recipients: [me.recipient], now: NOW, encryptedRegex: '^data$', macOnlyEncrypted: true });
    assert.equal((parseYaml(text) as { sops: { mac_only_encrypted: boolean } }).sops.mac_only_encrypted, true);
    assert.equal(sopsMetadata(text).macOnlyEncrypted, true);
    const edited = edit(text, 'host: h', 'host: h2');
    assert.deepEqual(await decryptSopsDocument(edited, [me.identity]), { ...doc, host: 'h2' });
    await assertRefused(flipAfter(text, 'password: ENC[AES256_GCM,data:'), [me.identity], /data\.password: cannot decrypt/, ['pw']);
    await assertRefused(edit(text, '    mac_only_encrypted: true\n', ''), [me.identity], /MAC mismatch/, ['pw']);

    const full = await encryptSopsDocument(doc, { recipients: [me.recipient], now: NOW, encryptedRegex: '^data$' });
    await assertRefused(edit(full, 'host: h', 'host: h2'), [me.identity], /MAC mismatch/, ['pw']);
  });

  it('refuses a file that sets two selectors or an unsupported one', async () => {
    const me = await keyPair();
    const text = await encryptSopsDocument({ a: 'zebra-secret' }, { recipients: [me.recipient], now: NOW });
    const secrets = ['zebra-secret'];
    await assertRefused(edit(text, '    version:', '    encrypted_regex: ^a$\n    version:'), [me.identity], /more than one of/, secrets);
    await assertRefused(edit(text, '    version:', '    encrypted_comment_regex: sops\n    version:'), [me.identity], /not supported/, secrets);
    await assertRefused(edit(text, /^ {4}age:\n(?: {8}.*\n)+/m, '    pgp:\n        - fp: ABC\n          enc: x\n'), [me.identity], /no age recipients \(it uses pgp/, secrets);
  });
});

describe('sops-file: YAML text with comments', () => {
  const plain = `# deployment settings
app:
    # the password below rotates monthly
    password: hunter2 # inline note
    replicas: 2
    ratio: 1.0
public_unencrypted:
    # visible to everyone
    url: https://example.com
tokens:
    - abc
    # second token is for CI
    - def
`;

  it('encrypts comments except under clear-text keys, and restores them', async () => {
    const me = await keyPair();
    const text = await encryptSopsYaml(plain, { recipients: [me.recipient], now: NOW });
    for (const s of ['deployment settings', 'rotates monthly', 'hunter2', 'inline note', 'second token']) {
      assert.ok(!text.includes(s), `${s} appears in clear`);
    }
    assert.ok(text.includes('# visible to everyone'), 'comments under _unencrypted keys stay clear');
    assert.ok(text.includes('url: https://example.com'));
    assert.match(text, /ratio: ENC\[[^\]]+type:float\]/, '1.0 stays a float');
    assert.match(text, /replicas: ENC\[[^\]]+type:int\]/);
    const back = await decryptSopsYaml(text, [me.identity]);
    for (const s of ['# deployment settings', '    # the password below rotates monthly', 'password: hunter2 # inline note', '    # second token is for CI', 'ratio: 1.0']) {
      assert.ok(back.includes(s), `${s} missing from:\n${back}`);
    }
    assert.deepEqual(parseYaml(back), parseYaml(plain));
  });

  it('keeps a hand-added clear-text comment in an encrypted file', async () => {
    const me = await keyPair();
    const text = await encryptSopsYaml('a: secret-a\n', { recipients: [me.recipient], now: NOW });
    const back = await decryptSopsYaml(`# added by hand\n${text}`, [me.identity]);
    assert.ok(back.startsWith('# added by hand\n'));
  });
});

describe('sops-file: lastmodified as sops formats it', () => {
  it('drops fractions and writes a zero offset as Z, as Go does', () => {
    assert.equal(canonicalLastModified('2025-08-06T18:55:05Z'), '2025-08-06T18:55:05Z');
    assert.equal(canonicalLastModified('2025-08-06T18:55:05.123456Z'), '2025-08-06T18:55:05Z');
    assert.equal(canonicalLastModified('2025-08-06T18:55:05+00:00'), '2025-08-06T18:55:05Z');
    assert.equal(canonicalLastModified('2025-08-06T20:55:05+02:00'), '2025-08-06T20:55:05+02:00');
    assert.throws(() => canonicalLastModified('2025-08-06 18:55:05'), SecretsError);
  });
});
