import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../../src/core/errors.ts';
import { MAX_ARG_BYTES, MAX_LINE_BYTES, checkTokens } from '../../../src/core/grammar/limits.ts';
import { parseCommandLine, scanCommandLine } from '../../../src/core/grammar/tokenize.ts';

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof InvalidInputError && pattern.test(e.message));
}

describe('parseCommandLine', () => {
  it('splits on any whitespace and ignores leading, trailing and repeated spaces', () => {
    assert.deepEqual(parseCommandLine('  apps:info \t myapp\n--json  '), ['apps:info', 'myapp', '--json']);
    assert.deepEqual(parseCommandLine(''), []);
    assert.deepEqual(parseCommandLine('   '), []);
  });

  it('keeps single-quoted text literally, backslashes included', () => {
    assert.deepEqual(parseCommandLine(`config:set app 'MSG=a "b" \\n c'`), ['config:set', 'app', 'MSG=a "b" \\n c']);
  });

  it('allows \\" and \\\\ inside double quotes and leaves other backslashes alone', () => {
    assert.deepEqual(parseCommandLine('x "a \\"b\\" \\\\ \\d"'), ['x', 'a "b" \\ \\d']);
  });

  it('joins adjacent quoted and unquoted pieces into one argument', () => {
    assert.deepEqual(parseCommandLine(`config:set app KEY="a b"'c d'e`), ['config:set', 'app', 'KEY=a bc de']);
  });

  it('turns empty quotes into an empty argument', () => {
    assert.deepEqual(parseCommandLine(`config:set app KEY='' ""`), ['config:set', 'app', 'KEY=', '']);
  });

  it('refuses an unterminated quote and says which one', () => {
    refused(() => parseCommandLine('config:set app "KEY=value'), /unterminated quote: the " opened at character 16/);
    refused(() => parseCommandLine("apps:info 'x"), /unterminated quote: the ' opened/);
  });

  it('refuses a command line over 256 KiB before scanning it', () => {
    refused(() => parseCommandLine(`apps:info ${'a'.repeat(MAX_LINE_BYTES)}`), /command line too long/);
    // Multi-byte characters count as bytes, not characters.
    refused(() => parseCommandLine('é'.repeat(MAX_LINE_BYTES / 2 + 1)), /command line too long/);
  });

  it('refuses an argument over 64 KiB with "argument too long"', () => {
    refused(() => parseCommandLine(`apps:info ${'a'.repeat(MAX_ARG_BYTES + 1)}`), /argument too long: argument 2 has 65537 bytes/);
    assert.equal(parseCommandLine(`apps:info ${'a'.repeat(MAX_ARG_BYTES)}`)[1]?.length, MAX_ARG_BYTES);
  });

  it('refuses NUL, other control characters, DEL and bidi overrides inside arguments', () => {
    refused(() => parseCommandLine('apps:info my\u0000app'), /control or invisible formatting character \(U\+0000\)/);
    refused(() => parseCommandLine('apps:info "my\u0007app"'), /U\+0007/);
    refused(() => parseCommandLine('apps:info my\u007fapp'), /U\+007F/);
    refused(() => parseCommandLine('apps:info my\u202eppa'), /U\+202E/);
    refused(() => parseCommandLine("apps:info 'a\nb'"), /U\+000A/);
  });

  it('accepts non-ASCII letters: refusing look-alike app names is the schema’s job', () => {
    assert.deepEqual(parseCommandLine('apps:info аpp'), ['apps:info', 'аpp']);
  });
});

describe('scanCommandLine (lenient)', () => {
  it('runs an unterminated quote to the end instead of refusing', () => {
    assert.deepEqual(scanCommandLine('config:set app "KEY=a b'), {
      tokens: ['config:set', 'app', 'KEY=a b'],
      unterminated: { quote: '"', at: 16 },
    });
  });
});

describe('checkTokens (argv)', () => {
  it('measures arguments in UTF-8 bytes', () => {
    refused(() => checkTokens(['apps:info', 'é'.repeat(MAX_ARG_BYTES / 2 + 1)]), /argument too long/);
    checkTokens(['apps:info', 'é'.repeat(MAX_ARG_BYTES / 2)]);
  });

  it('refuses a command line whose arguments add up to more than 256 KiB', () => {
    const chunk = 'a'.repeat(60 * 1024);
    refused(() => checkTokens(['config:set', 'app', chunk, chunk, chunk, chunk, chunk]), /command line too long/);
  });

  it('refuses lone surrogates', () => {
    refused(() => checkTokens(['apps:info', 'a\ud800b']), /U\+D800/);
    checkTokens(['apps:info', '😀']);
  });
});
