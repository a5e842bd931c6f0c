import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  SopsValueError,
  additionalData,
  decryptValue,
  encryptValue,
  formatGoFloat,
  goBytes,
} from '../../../src/store/sops/sops-value.ts';

describe('sops-value: Go formatting', () => {
  it('formats floats like strconv.FormatFloat(v, \'f\', -1, 64)', () => {
    const cases: Array<[number, string]> = [
      [1.5, '1.5'],
      [-0.25, '-0.25'],
      [1, '1'],
      [0, '0'],
      [-0, '-0'],
      [1e21, '1000000000000000000000'],
      [1.5e300, '15' + '0'.repeat(299)],
      [1e-7, '0.0000001'],
      [1.2345e-10, '0.00000000012345'],
      [0.1, '0.1'],
      [123456789.125, '123456789.125'],
      [2 ** 53 + 2, '9007199254740994'],
      [NaN, 'NaN'],
      [Infinity, '+Inf'],
      [-Infinity, '-Inf'],
    ];
    for (const [v, s] of cases) assert.equal(formatGoFloat(v), s, String(v));
  });

  it('writes booleans as True/False and ints in decimal', () => {
    assert.equal(goBytes(true), 'True');
    assert.equal(goBytes(false), 'False');
    assert.equal(goBytes(42), '42');
    assert.equal(goBytes(-(2n ** 63n)), '-9223372036854775808');
    assert.equal(goBytes('as is'), 'as is');
  });

  it('joins the AAD path with a trailing colon', () => {
    assert.equal(additionalData(['a', 'b']), 'a:b:');
    assert.equal(additionalData([]), ':');
  });
});

describe('sops-value: ENC values', () => {
  const key = randomBytes(32);

  it('round-trips each type with canonical MAC bytes', () => {
    const cases: Array<[string | number | bigint | boolean, 'str' | 'int' | 'float' | 'bool', unknown, string]> = [
      ['héllo', 'str', 'héllo', 'héllo'],
      [7n, 'int', 7, '7'],
      [2n ** 62n, 'int', 2n ** 62n, String(2n ** 62n)],
      [0.1, 'float', 0.1, '0.1'],
      [1e-7, 'float', 1e-7, '0.0000001'],
      [-Infinity, 'float', -Infinity, '-Inf'],
      [true, 'bool', true, 'True'],
    ];
    for (const [value, type, back, mac] of cases) {
      const enc = encryptValue(value, type, key, 'k:');
      assert.match(enc, new RegExp(`,type:${type}\\]$`));
      const d = decryptValue(enc, key, 'k:');
      assert.deepEqual(d.value, back);
      assert.equal(d.macBytes.toString('utf8'), mac);
    }
    assert.ok(Number.isNaN(decryptValue(encryptValue(NaN, 'float', key, 'k:'), key, 'k:').value));
  });

  it('leaves the empty string empty, as sops does', () => {
    assert.equal(encryptValue('', 'str', key, 'k:'), '');
    assert.equal(decryptValue('', key, 'k:').value, '');
  });

  it('refuses a wrong path, a wrong key and malformed input without plaintext', () => {
    const enc = encryptValue('top-secret', 'str', key, 'a:b:');
    for (const [text, k, aad] of [
      [enc, key, 'a:c:'],
      [enc, randomBytes(32), 'a:b:'],
      [enc.replace('type:str', 'type:weird'), key, 'a:b:'],
      [enc.replace(/tag:[^,]+,/, 'tag:AAAA,'), key, 'a:b:'],
      [enc.replace(/iv:[^,]+,/, 'iv:!!!!,'), key, 'a:b:'],
      ['ENC[something else]', key, 'a:b:'],
      ['top-secret', key, 'a:b:'],
    ] as const) {
      assert.throws(() => decryptValue(text, k, aad), (e: unknown) => e instanceof SopsValueError && !e.message.includes('top-secret'));
    }
  });
});
