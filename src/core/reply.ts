/**
 * The reply model: what a command returns. Plain data, independent of the front door: the
 * terminal renders it as text (`src/cli/text-render.ts`), Slack will render it as Block Kit.
 * Values are pre-formatted strings so renderers never need to know what a release or an app is.
 */

/** A block of a reply, rendered in order. */
export type ReplyBlock =
  /** A title line (`=== myapp Config Vars` on the terminal, a header block on Slack). */
  | { type: 'heading'; text: string }
  /** A sentence or two. `tone` lets a renderer pick an icon; the text must read well without it. */
  | { type: 'message'; text: string; tone?: 'info' | 'success' | 'warning' }
  /** Label/value pairs describing one thing (an app, a release). */
  | { type: 'record'; fields: ReplyField[] }
  /** Rows of one kind of thing. `empty` is shown instead when there are no rows. */
  | { type: 'table'; columns: string[]; rows: string[][]; empty?: string };

export interface ReplyField {
  label: string;
  value: string;
}

/** What a command returns. */
export interface Reply {
  blocks: ReplyBlock[];
  /** What `--json` prints: the data behind the blocks, never a secret value (except `config:get`). */
  json: unknown;
  /** A reference users can quote and the audit event carries: `myapp v42`, an approval id. */
  auditRef?: string;
  /** The app the command acted on, for the audit event and for threading replies. */
  app?: string;
}

export function heading(text: string): ReplyBlock {
  return { type: 'heading', text };
}

export function message(text: string, tone?: 'info' | 'success' | 'warning'): ReplyBlock {
  return tone === undefined ? { type: 'message', text } : { type: 'message', text, tone };
}

export function record(fields: Array<[label: string, value: string]>): ReplyBlock {
  return { type: 'record', fields: fields.map(([label, value]) => ({ label, value })) };
}

export function table(columns: string[], rows: string[][], empty?: string): ReplyBlock {
  return empty === undefined ? { type: 'table', columns, rows } : { type: 'table', columns, rows, empty };
}
