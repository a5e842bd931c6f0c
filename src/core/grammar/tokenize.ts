/**
 * Splits Slack's single command string into arguments. The terminal front door gets argv from
 * the shell and skips this step. Quoting is deliberately small: `'…'` is literal, `"…"` allows
 * `\"` and `\\`, adjacent pieces join (`KEY="a b"` is one argument), whitespace separates.
 */
import { InvalidInputError } from '../errors.ts';
import { MAX_LINE_BYTES, checkTokens } from './limits.ts';

export interface ScanResult {
  tokens: string[];
  /** Set when a quote was still open at the end of the text (the last token runs to the end). */
  unterminated: { quote: string; at: number } | null;
}

const SPACE_RE = /\s/u;

/** Tokenizes without refusing anything; used for redaction, which must cope with any input. */
export function scanCommandLine(text: string): ScanResult {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === "'" || ch === '"') {
      const close = findClosingQuote(text, i);
      if (close === -1) {
        tokens.push(current + unescapeQuoted(text.slice(i + 1), ch));
        return { tokens, unterminated: { quote: ch, at: i + 1 } };
      }
      current += unescapeQuoted(text.slice(i + 1, close), ch);
      inToken = true;
      i = close + 1;
    } else if (SPACE_RE.test(ch)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
      i += 1;
    } else {
      current += ch;
      inToken = true;
      i += 1;
    }
  }
  if (inToken) tokens.push(current);
  return { tokens, unterminated: null };
}

function findClosingQuote(text: string, open: number): number {
  const quote = text[open];
  for (let j = open + 1; j < text.length; j += 1) {
    const ch = text[j];
    if (quote === '"' && ch === '\\' && (text[j + 1] === '"' || text[j + 1] === '\\')) j += 1;
    else if (ch === quote) return j;
  }
  return -1;
}

function unescapeQuoted(body: string, quote: string): string {
  return quote === '"' ? body.replace(/\\(["\\])/g, '$1') : body;
}

/**
 * Parses one command line as Slack delivers it into arguments. Refuses (InvalidInputError) an
 * unterminated quote, a line over 256 KiB, an argument over 64 KiB and control characters.
 */
export function parseCommandLine(text: string): string[] {
  // Checked on the raw text first so a megabyte of input is refused before it is scanned.
  if (text.length > MAX_LINE_BYTES || Buffer.byteLength(text, 'utf8') > MAX_LINE_BYTES) {
    throw new InvalidInputError(`command line too long: more than ${MAX_LINE_BYTES} bytes`);
  }
  const { tokens, unterminated } = scanCommandLine(text);
  if (unterminated) {
    throw new InvalidInputError(
      `unterminated quote: the ${unterminated.quote} opened at character ${unterminated.at} is never closed`,
      `close the quote, or use the other kind of quote around a value that contains ${unterminated.quote}`,
    );
  }
  checkTokens(tokens);
  return tokens;
}
