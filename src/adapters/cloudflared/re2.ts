/**
 * RE2 (Go `regexp`) patterns, as cloudflared compiles an ingress rule's `path`, run on JavaScript's
 * engine. The pattern is translated token by token into an equivalent `u`-flag RegExp; whatever RE2
 * refuses (lookarounds, backreferences, `\Z`, unknown escapes, repeat counts over 1000) is refused
 * here too, so a config we accept is one cloudflared accepts.
 *
 * Deliberately unsupported (refused, though RE2 takes them): inline flags other than at the very
 * start (`a(?i)b`, `(?i:...)`), the ungreedy flag `U`, negated POSIX classes `[[:^alpha:]]`, octal
 * escapes other than `\0`. Inside a character class `\S` keeps JavaScript's (Unicode) meaning.
 */

export class Re2SyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Re2SyntaxError';
  }
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`\\{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/'.split(''));
const RE2_SPACE = '\\t\\n\\f\\r ';
const MAX_REPEAT = 1000;

/** A literal code point, escaped for a `u`-flag RegExp (inside a class when `inClass`). */
function literal(cp: number, inClass: boolean): string {
  const ch = String.fromCodePoint(cp);
  if (SYNTAX_CHARS.has(ch) || (inClass && ch === '-')) return `\\${ch}`;
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return ch;
}

/** Translates an RE2 pattern; throws Re2SyntaxError with RE2's kind of message. */
export function translateRe2(pattern: string): { source: string; flags: string } {
  const flags = new Set<string>(['u']);
  let i = 0;
  // Leading flag groups, e.g. `(?i)` or `(?is)`, become RegExp flags.
  for (;;) {
    const m = /^\(\?([imsU]*)(?:-([imsU]*))?\)/.exec(pattern.slice(i));
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) break;
    for (const f of m[1] ?? '') {
      if (f === 'U') throw new Re2SyntaxError('the ungreedy flag (?U) is not supported by pvdify');
      flags.add(f);
    }
    for (const f of m[2] ?? '') flags.delete(f);
    i += m[0].length;
  }

  let out = '';
  let inClass = false;
  let classStart = 0;
  const names = new Set<string>();
  const fail = (what: string): never => {
    throw new Re2SyntaxError(what);
  };

  const escape = (): void => {
    // pattern[i] is the backslash
    const c = pattern[i + 1];
    if (c === undefined) fail('trailing backslash at end of expression');
    i += 2;
    const ch = c as string;
    if (/[1-9]/.test(ch)) fail(`invalid escape sequence: \`\\${ch}\` (backreferences are not supported)`);
    if (ch === '0') {
      let digits = '';
      while (digits.length < 2 && /[0-7]/.test(pattern[i] ?? '')) digits += pattern[i++];
      out += literal(parseInt(digits || '0', 8), inClass);
      return;
    }
    if (ch === 'x') {
      let hex: string;
      if (pattern[i] === '{') {
        const end = pattern.indexOf('}', i);
        hex = end === -1 ? '' : pattern.slice(i + 1, end);
        if (!/^[0-9A-Fa-f]{1,8}$/.test(hex)) fail('invalid escape sequence: `\\x{`');
        i = end + 1;
      } else {
        hex = pattern.slice(i, i + 2);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail('invalid escape sequence: `\\x`');
        i += 2;
      }
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) fail('invalid escape sequence: code point out of range');
      out += literal(cp, inClass);
      return;
    }
    const simple: Record<string, string> = { a: '\\x07', f: '\\f', t: '\\t', n: '\\n', r: '\\r', v: '\\v' };
    if (simple[ch] !== undefined) {
      out += simple[ch];
      return;
    }
    if ('dDwW'.includes(ch)) {
      out += `\\${ch}`;
      return;
    }
    if (ch === 's') {
      out += inClass ? RE2_SPACE : `[${RE2_SPACE}]`;
      return;
    }
    if (ch === 'S') {
      out += inClass ? '\\S' : `[^${RE2_SPACE}]`;
      return;
    }
    if (ch === 'b' || ch === 'B') {
      if (inClass) fail(`invalid escape sequence: \`\\${ch}\` in a character class`);
      out += `\\${ch}`;
      return;
    }
    if (ch === 'A' || ch === 'z') {
      if (inClass) fail(`invalid escape sequence: \`\\${ch}\` in a character class`);
      out += ch === 'A' ? '(?<![\\s\\S])' : '(?![\\s\\S])';
      return;
    }
    if (ch === 'p' || ch === 'P') {
      let name: string;
      if (pattern[i] === '{') {
        const end = pattern.indexOf('}', i);
        if (end === -1) fail('invalid character class range: missing }');
        name = pattern.slice(i + 1, end);
        i = end + 1;
      } else {
        name = pattern[i] ?? '';
        i += 1;
      }
      let negate = ch === 'P';
      if (name.startsWith('^')) {
        negate = !negate;
        name = name.slice(1);
      }
      if (!/^[A-Za-z_]+$/.test(name)) fail(`invalid character class range: \\${ch}{${name}}`);
      const prop = name === 'Any' ? 'Any' : /^[A-Z][a-z]?$/.test(name) ? `General_Category=${name}` : `Script=${name}`;
      const piece = `\\${negate ? 'P' : 'p'}{${prop}}`;
      try {
        new RegExp(piece, 'u');
      } catch {
        fail(`invalid character class range: \\${ch}{${name}}`);
      }
      out += piece;
      return;
    }
    if (ch === 'Q') {
      const end = pattern.indexOf('\\E', i);
      const text = end === -1 ? pattern.slice(i) : pattern.slice(i, end);
      for (const cpChar of text) out += literal(cpChar.codePointAt(0) as number, inClass);
      i = end === -1 ? pattern.length : end + 2;
      return;
    }
    // Any escaped ASCII punctuation is that character; letters and the rest are errors.
    if (/^[!-/:-@[-`{-~]$/.test(ch)) {
      out += literal(ch.codePointAt(0) as number, inClass);
      return;
    }
    fail(`invalid escape sequence: \`\\${ch}\``);
  };

  while (i < pattern.length) {
    const c = pattern[i] as string;
    if (inClass) {
      if (c === ']' && i > classStart) {
        out += ']';
        inClass = false;
        i += 1;
      } else if (c === '[' && pattern[i + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(pattern.slice(i));
        if (m) {
          if (m[1]) fail('negated POSIX classes like [[:^alpha:]] are not supported by pvdify');
          const cls = POSIX_CLASSES[m[2] as string];
          if (cls === undefined) fail(`invalid character class range: \`${m[0]}\``);
          out += cls;
          i += m[0].length;
        } else {
          out += '\\[';
          i += 1;
        }
      } else if (c === '\\') {
        escape();
      } else if (c === '[') {
        out += '\\[';
        i += 1;
      } else {
        const cp = pattern.codePointAt(i) as number;
        // `-` keeps its range meaning; anything else is literal.
        out += c === '-' || c === '^' ? c : literal(cp, true);
        i += cp > 0xffff ? 2 : 1;
      }
      continue;
    }
    switch (c) {
      case '\\':
        escape();
        break;
      case '[': {
        out += '[';
        i += 1;
        if (pattern[i] === '^') {
          out += '^';
          i += 1;
        }
        inClass = true;
        classStart = i;
        // A `]` right after `[` or `[^` is a literal in RE2, an empty class in JavaScript.
        if (pattern[i] === ']') {
          out += '\\]';
          i += 1;
        }
        break;
      }
      case '(': {
        if (pattern[i + 1] !== '?') {
          out += '(';
          i += 1;
          break;
        }
        const rest = pattern.slice(i);
        if (rest.startsWith('(?:')) {
          out += '(?:';
          i += 3;
          break;
        }
        if (/^\(\?(=|!|<=|<!)/.test(rest)) fail('invalid or unsupported Perl syntax: lookaround assertions are not supported');
        if (rest.startsWith('(?P=')) fail('invalid or unsupported Perl syntax: backreferences are not supported');
        const named = /^\(\?P?<([^>]*)>/.exec(rest);
        if (named) {
          const name = named[1] as string;
          if (!/^\w+$/.test(name)) fail(`invalid named capture: \`${named[0]}\``);
          if (names.has(name)) fail(`duplicate capture group name: \`${name}\``);
          names.add(name);
          // Names do not change what matches; a plain group avoids JavaScript's stricter name rules.
          out += '(';
          i += named[0].length;
          break;
        }
        if (/^\(\?[imsU-]*[:)]/.test(rest)) fail('inline flags are only supported at the start of the pattern');
        fail(`invalid or unsupported Perl syntax: \`${rest.slice(0, 3)}\``);
        break;
      }
      case '{': {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!m) {
          out += '\\{';
          i += 1;
          break;
        }
        const min = Number(m[1]);
        const max = m[3] ? Number(m[3]) : min;
        if (min > MAX_REPEAT || max > MAX_REPEAT || (m[3] && max < min)) fail(`invalid repeat count: \`${m[0]}\``);
        out += m[0];
        i += m[0].length;
        break;
      }
      case '}':
      case ']':
        out += `\\${c}`;
        i += 1;
        break;
      default: {
        const cp = pattern.codePointAt(i) as number;
        out += '.^$|)*+?'.includes(c) ? c : literal(cp, false);
        i += cp > 0xffff ? 2 : 1;
      }
    }
  }
  if (inClass) fail('missing closing ]');
  const flagString = ['i', 'm', 's', 'u'].filter((f) => flags.has(f)).join('');
  return { source: out, flags: flagString };
}

/** Compiles an RE2 pattern into a RegExp that matches the same strings; throws Re2SyntaxError. */
export function compileRe2(pattern: string): RegExp {
  const { source, flags } = translateRe2(pattern);
  try {
    return new RegExp(source, flags);
  } catch (e) {
    // JavaScript's own complaints (`*` with nothing to repeat, unbalanced parentheses) are RE2's too.
    throw new Re2SyntaxError(`error parsing regexp: ${(e as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, '')}`);
  }
}
