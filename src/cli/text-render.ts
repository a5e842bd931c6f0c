/**
 * Replies as terminal text: aligned tables, `label: value` records, `=== heading` lines, no
 * colour (output is read by people and by scripts alike; `--json` is for scripts that parse).
 */
import type { Reply, ReplyBlock } from '../core/reply.ts';
import type { ProgressEvent } from '../core/deploy/progress.ts';

/** Table cells and record values are one line each: a newline would break the alignment. */
function cell(text: string): string {
  return text.replace(/\r?\n|\r/g, ' ');
}

export function renderTable(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [columns, ...rows].map((row) => columns.map((_, i) => cell(row[i] ?? '')));
  const widths = columns.map((_, i) => Math.max(...all.map((row) => [...(row[i] ?? '')].length)));
  const line = (row: string[]): string =>
    row
      .map((text, i) => (i === row.length - 1 ? text : text.padEnd((widths[i] ?? 0) + (text.length - [...text].length))))
      .join('  ')
      .trimEnd();
  const [header, ...body] = all;
  return [line(header ?? []), ...body.map(line)].join('\n');
}

export function renderBlock(block: ReplyBlock): string {
  switch (block.type) {
    case 'heading':
      return `=== ${block.text}`;
    case 'message':
      return block.text;
    case 'record': {
      const width = Math.max(0, ...block.fields.map((f) => f.label.length + 1));
      return block.fields.map((f) => `${`${f.label}:`.padEnd(width)}  ${cell(f.value)}`.trimEnd()).join('\n');
    }
    case 'table':
      return block.rows.length === 0 && block.empty !== undefined ? block.empty : renderTable(block.columns, block.rows);
  }
}

/** The whole reply, one block after another, each ending in a newline. */
export function renderText(reply: Reply): string {
  let out = '';
  for (const block of reply.blocks) {
    out += `${renderBlock(block)}\n`;
  }
  return out;
}

/** One line per finished rollout step, printed as it happens: `  ok   pull      1.2 s  image`. */
export function formatProgress(event: ProgressEvent): string {
  if (event.status === 'started') return '';
  const mark = event.status === 'ok' ? 'ok  ' : event.status === 'failed' ? 'FAIL' : 'skip';
  const secs = event.durationMs === undefined ? '' : `${(event.durationMs / 1000).toFixed(1)} s`;
  const detail = event.detail ? `  ${event.detail}` : '';
  return `  ${mark} ${event.step.padEnd(8)} ${secs.padStart(7)}${detail}\n`;
}
