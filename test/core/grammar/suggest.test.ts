import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { editDistance, suggest } from '../../../src/core/grammar/suggest.ts';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and adjacent transpositions as one edit each', () => {
    assert.equal(editDistance('', ''), 0);
    assert.equal(editDistance('abc', ''), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('apps:creat', 'apps:create'), 1);
    assert.equal(editDistance('apps:craete', 'apps:create'), 1);
    assert.equal(editDistance('ca', 'abc'), 3);
  });
});

describe('suggest', () => {
  const commands = ['apps', 'apps:create', 'apps:info', 'releases', 'releases:info', 'config:set', 'config:get'];

  it('suggests the close candidate', () => {
    assert.equal(suggest('apps:creat', commands), 'apps:create');
    assert.equal(suggest('apps:craete', commands), 'apps:create');
    assert.equal(suggest('APPS:INFO', commands), 'apps:info');
    assert.equal(suggest('--limt', ['--limit', '--json', '--app']), '--limit');
  });

  it('suggests the only candidate the input is a prefix of', () => {
    assert.equal(suggest('prod', ['production', 'staging', 'preview']), 'production');
    assert.equal(suggest('stag', ['production', 'staging', 'preview']), 'staging');
  });

  it('suggests nothing when nothing is close or the prefix is ambiguous', () => {
    assert.equal(suggest('deploy', commands), undefined);
    assert.equal(suggest('rel', commands), undefined);
    assert.equal(suggest('p', ['production', 'preview']), undefined);
    assert.equal(suggest('', commands), undefined);
    assert.equal(suggest('x'.repeat(5000), commands), undefined);
  });
});
