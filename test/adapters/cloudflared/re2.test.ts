import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRe2 } from '../../../src/adapters/cloudflared/re2.ts';

const matches = (pattern: string, s: string): boolean => compileRe2(pattern).test(s);

describe('RE2 patterns on JavaScript', () => {
  it('searches anywhere unless anchored', () => {
    assert.equal(matches('login', '/v1/login/x'), true);
    assert.equal(matches('^/login$', '/login/x'), false);
  });

  it('refuses what RE2 refuses', () => {
    for (const p of ['a(?=b)', 'a(?!b)', '(?<=a)b', '(?<!a)b', '(a)\\1', '(?P<x>a)(?P=x)', '\\k<x>', '*a', 'a**', '(', 'a)', '[a', '\\Z', '\\y', '\\u0041', '\\cA', 'a{1001}', 'a{5,2}', '(?#c)', '(?P<x>a)(?P<x>b)', '[[:nope:]]', '\\p{NoSuchScript}', '[\\b]', '\\']) {
      assert.throws(() => compileRe2(p), { name: 'Re2SyntaxError' }, p);
    }
  });

  it('accepts RE2 spellings JavaScript lacks', () => {
    assert.equal(matches('(?i)^/API', '/api'), true);
    assert.equal(matches('(?P<id>[0-9]+)$', '/u/42'), true);
    assert.equal(matches('^[[:alpha:]]+[[:digit:]]$', 'abc7'), true);
    assert.equal(matches('\\Q/a.b\\E', '/a.b'), true);
    assert.equal(matches('\\Q/a.b\\E', '/axb'), false);
    assert.equal(matches('^\\x{41}\\x42$', 'AB'), true);
    assert.equal(matches('\\Aab\\z', 'ab'), true);
    assert.equal(matches('\\Aab\\z', 'ab\n'), false);
    assert.equal(matches('^\\pL+$', 'héllo'), true);
    assert.equal(matches('^\\p{Greek}+$', 'αβγ'), true);
    assert.equal(matches('(?s)a.b', 'a\nb'), true);
    assert.equal(matches('a.b', 'a\nb'), false);
  });

  it('keeps RE2 meanings where JavaScript differs', () => {
    // `]` first in a class is a literal in RE2, an empty class in JavaScript.
    assert.equal(matches('^[]a]+$', ']a]'), true);
    // Lone braces are literals in RE2.
    assert.equal(matches('^a{$', 'a{'), true);
    assert.equal(matches('^a{,2}$', 'a{,2}'), true);
    assert.equal(matches('^a{2}$', 'aa'), true);
    // \s is ASCII whitespace only in RE2.
    assert.equal(matches('\\s', '\u00a0'), false);
    assert.equal(matches('\\s', '\t'), true);
    // Escaped punctuation is that character.
    assert.equal(matches('^\\-\\#\\/$', '-#/'), true);
    // `.` matches a whole code point, as RE2 works on UTF-8.
    assert.equal(matches('^.$', '😀'), true);
  });
});
