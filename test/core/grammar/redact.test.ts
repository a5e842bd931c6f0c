import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  REDACTED_ARG_MAX_CHARS,
  REDACTED_TEXT_MAX_CHARS,
  redactCommandText,
  redactToken,
} from '../../../src/core/grammar/redact.ts';
import { parseCommandLine } from '../../../src/core/grammar/tokenize.ts';
import { COMMANDS } from '../../../commands/index.ts';

describe('redactCommandText', () => {
  it('replaces the value of every KEY=VALUE argument, in any command', () => {
    assert.equal(
      redactCommandText(['config:set', 'myapp', 'API_KEY=hunter2', 'DB=postgres://u:p@h/db']),
      'config:set myapp API_KEY=*** DB=***',
    );
    assert.equal(redactCommandText(['apps:info', 'x=hunter2']), 'apps:info x=***');
    assert.equal(redactCommandText(['FOO=hunter2']), 'FOO=***');
    assert.equal(redactCommandText(['config:set', 'myapp', '=hunter2', 'K=']), 'config:set myapp =*** K=***');
  });

  it('keeps --flag=value, which is not a secret', () => {
    assert.equal(redactCommandText(['releases', 'myapp', '--limit=5', '-n=3']), 'releases myapp --limit=5 -n=3');
  });

  it('masks KEY=VALUE after a bare --, where -X=… is positional', () => {
    assert.equal(redactCommandText(['config:set', 'myapp', '--', '-X=hunter2']), 'config:set myapp -- -X=***');
  });

  it('keeps process counts like web=3 (ps:scale) but masks anything else', () => {
    assert.equal(redactCommandText(['ps:scale', 'myapp', 'web=3', 'worker=12']), 'ps:scale myapp web=3 worker=12');
    assert.equal(redactCommandText(['x', 'pin=1234', 'WEB=3']), 'x pin=*** WEB=***');
  });

  it('masks a value typed after KEY= with a space', () => {
    assert.equal(redactCommandText('config:set myapp API_KEY= hunter2 --json'), 'config:set myapp API_KEY=*** *** --json');
  });

  it('works on Slack text, quotes included, and on text the grammar refuses', () => {
    assert.equal(redactCommandText(`config:set myapp "MSG=hello hunter2" 'B=x y'`), 'config:set myapp MSG=*** B=***');
    assert.equal(redactCommandText('config:set myapp "K=hunter2'), 'config:set myapp K=***');
    assert.equal(redactCommandText('config:set myapp K="hunter2 and more'), 'config:set myapp K=***');
    assert.equal(redactCommandText('config:set my\u0000app K=hunter2\u0007'), 'config:set "my\\\\u{0}app" K=***');
  });

  it('gives the same text for Slack text and the argv it parses to', () => {
    const text = `config:set myapp A=1 "B=two words" --app=x -- 'C=3'`;
    assert.equal(redactCommandText(text), redactCommandText(parseCommandLine(text)));
  });

  it('truncates a 1 MB argument to its first 200 characters and its size', () => {
    const huge = 'a'.repeat(1024 * 1024);
    const want = `apps:info ${'a'.repeat(REDACTED_ARG_MAX_CHARS)}…(1048576 bytes)`;
    assert.equal(redactCommandText(['apps:info', huge]), want);
    assert.equal(redactCommandText(`apps:info ${huge}`), want);
  });

  it('masks a 1 MB secret value before truncating', () => {
    const out = redactCommandText(['config:set', 'app', `K=${'s'.repeat(1024 * 1024)}`]);
    assert.equal(out, 'config:set app K=***');
  });

  it('caps the whole text (it must fit an audit event)', () => {
    const argv = ['config:unset', 'app', ...Array.from({ length: 5000 }, (_, i) => `KEY_${i}`)];
    const out = redactCommandText(argv);
    assert.ok(out.length <= REDACTED_TEXT_MAX_CHARS, `${out.length}`);
    assert.match(out, /…\(\d+ more arguments\)$/);
  });

  it('quotes arguments with spaces or quotes so the text reads back as the same arguments', () => {
    const out = redactCommandText(['apps:info', 'a b', `it's`, 'x"y']);
    assert.equal(out, `apps:info "a b" "it's" "x\\"y"`);
    assert.deepEqual(parseCommandLine(out), ['apps:info', 'a b', `it's`, 'x"y']);
  });
});

describe('redactCommandText with the command specs', () => {
  const redact = (input: string | string[]) => redactCommandText(input, COMMANDS);

  it('masks bare arguments where config:set expects KEY=VALUE (a space typed for the =)', () => {
    assert.equal(redact(['config:set', 'myapp', 'API_KEY', 'hunter2']), 'config:set myapp *** ***');
    assert.equal(redact(['config:set', '-a', 'myapp', 'hunter2', '--json']), 'config:set -a myapp *** --json');
    assert.equal(redact(['config:set', '--app=myapp', 'hunter2']), 'config:set --app=myapp ***');
    assert.equal(redact(['config:set', 'myapp', '--', '--hunter2', 'web=3']), 'config:set myapp -- *** web=***');
    assert.equal(redact('config:set myapp "two words"'), 'config:set myapp ***');
  });

  it('masks the values of flags the command does not declare (likely a mangled KEY=VALUE)', () => {
    assert.equal(redact(['config:set', 'myapp', '-API_KEY=hunter2', '--json']), 'config:set myapp -API_KEY=*** --json');
    assert.equal(redact(['config:set', '-API_KEY=hunter2', '--app=x']), 'config:set -API_KEY=*** --app=x');
    assert.equal(redact(['releses', 'myapp', '--limit=5']), 'releses myapp --limit=***');
    assert.equal(redact(['releases', 'myapp', '--limit=5', '-n=3']), 'releases myapp --limit=5 -n=***');
  });

  it('leaves other commands’ bare arguments alone', () => {
    assert.equal(redact(['config:unset', 'myapp', 'API_KEY']), 'config:unset myapp API_KEY');
    assert.equal(redact(['releases', 'myapp', '--limit', '5']), 'releases myapp --limit 5');
  });
});

describe('redactToken', () => {
  it('escapes control and bidi characters and truncates to maxChars', () => {
    assert.equal(redactToken('a\u202eb'), 'a\\u{202e}b');
    assert.equal(redactToken('abcdef', { maxChars: 3 }), 'abc…(6 bytes)');
  });
});
