import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTable, renderText } from '../../src/cli/text-render.ts';
import { heading, message, record, table } from '../../src/core/reply.ts';

describe('renderText', () => {
  it('aligns table columns, with no trailing spaces', () => {
    assert.equal(
      renderTable(['NAME', 'STATUS', 'IMAGE'], [
        ['myapp', 'running', 'ghcr.io/org/app:v1'],
        ['a', 'created', '-'],
      ]),
      ['NAME   STATUS   IMAGE', 'myapp  running  ghcr.io/org/app:v1', 'a      created  -'].join('\n'),
    );
  });

  it('aligns by code points, not UTF-16 units', () => {
    // U+1D41A is one (narrow) character but two UTF-16 units.
    assert.equal(renderTable(['K', 'V'], [['\u{1d41a}\u{1d41a}', 'x'], ['abcd', 'y']]), ['K     V', '\u{1d41a}\u{1d41a}    x', 'abcd  y'].join('\n'));
  });

  it('renders headings, messages, records and empty tables in order', () => {
    const text = renderText({
      blocks: [
        heading('myapp'),
        message('Hello.'),
        record([
          ['Status', 'running'],
          ['Current release', 'v2'],
        ]),
        table(['A'], [], 'Nothing here.'),
      ],
      json: null,
    });
    assert.equal(text, '=== myapp\nHello.\nStatus:           running\nCurrent release:  v2\nNothing here.\n');
  });

  it('keeps each table row and record field on one line', () => {
    assert.equal(renderTable(['A', 'B'], [['x\ny', 'z']]), 'A    B\nx y  z');
    assert.equal(renderText({ blocks: [record([['Error', 'pull\nfailed']])], json: null }), 'Error:  pull failed\n');
  });

  it('prints a table header even with no rows when no empty text is given', () => {
    assert.equal(renderText({ blocks: [table(['A', 'B'], [])], json: null }), 'A  B\n');
  });
});
