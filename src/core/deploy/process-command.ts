import { InvalidInputError } from '../errors.ts';

/**
 * Splits a process command (`npm run worker -- --queue "high prio"`) into argv the way a user
 * expects from a Procfile, but never through a shell: quotes group, backslash escapes the next
 * character, `$VAR`, `;`, `|` and globs stay literal.
 */
export function splitCommand(command: string): string[] {
  const args: string[] = [];
  let current = '';
  let inToken = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i] as string;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < command.length) current += command[++i];
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inToken = true;
    } else if (ch === '\\' && i + 1 < command.length) {
      current += command[++i];
      inToken = true;
    } else if (/\s/.test(ch)) {
      if (inToken) args.push(current);
      current = '';
      inToken = false;
    } else {
      current += ch;
      inToken = true;
    }
  }
  if (quote) throw new InvalidInputError(`the process command has an unclosed ${quote} quote`);
  if (inToken) args.push(current);
  if (args.some((a) => a.includes('\0'))) throw new InvalidInputError('the process command contains a NUL byte');
  return args;
}
