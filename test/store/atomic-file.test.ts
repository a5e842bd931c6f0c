import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { StateUnwritableError } from '../../src/core/errors.ts';
import {
  appendFileDurable,
  ensureDir,
  FileExistsError,
  isTempFileName,
  removeTempFiles,
  removeTreeDurable,
  SECRET_FILE_MODE,
  writeFileAtomic,
} from '../../src/store/atomic-file.ts';
import { tempDir } from './helpers.ts';

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('writeFileAtomic', () => {
  it('writes with exact modes whatever the umask', (t) => {
    const dir = tempDir(t);
    const old = process.umask(0o077);
    try {
      writeFileAtomic(join(dir, 'a.yaml'), 'a: 1\n');
      writeFileAtomic(join(dir, 'current.env'), 'SECRET=1\n', { mode: SECRET_FILE_MODE });
    } finally {
      process.umask(old);
    }
    assert.equal(mode(join(dir, 'a.yaml')), 0o644);
    assert.equal(mode(join(dir, 'current.env')), 0o600);
    assert.deepEqual(readdirSync(dir).sort(), ['a.yaml', 'current.env']);
  });

  it('replaces the whole file, and can refuse to replace one', (t) => {
    const dir = tempDir(t);
    const p = join(dir, 'v1.yaml');
    writeFileAtomic(p, 'old: true\n');
    writeFileAtomic(p, 'new: true\n');
    assert.equal(readFileSync(p, 'utf8'), 'new: true\n');
    assert.throws(() => writeFileAtomic(p, 'other: true\n', { overwrite: false }), FileExistsError);
    assert.equal(readFileSync(p, 'utf8'), 'new: true\n');
    assert.deepEqual(readdirSync(dir), ['v1.yaml'], 'no temp file is left behind');
  });

  // Tests run as root in CI, where chmod 0500 does not stop writes. A path component that is a
  // regular file (ENOTDIR) fails for root too, so that is how an unwritable dir is simulated.
  it('throws StateUnwritableError and leaves nothing when the directory is not writable', (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'apps'), 'not a directory');
    assert.throws(
      () => writeFileAtomic(join(dir, 'apps', 'myapp.yaml'), 'x: 1\n'),
      (e: unknown) => e instanceof StateUnwritableError && /cannot write .*apps\/myapp\.yaml: a path component is not a directory \(ENOTDIR\)/.test(e.message),
    );
    assert.deepEqual(readdirSync(dir), ['apps']);
    assert.throws(() => ensureDir(join(dir, 'apps', 'sub')), StateUnwritableError);
  });
});

describe('temp files and trees', () => {
  it('recognises and removes only temp files', (t) => {
    const dir = tempDir(t);
    for (const n of ['.v1.yaml.123-4.tmp', '.myapp.yaml.9-1.tmp', 'v1.yaml', '.hidden']) writeFileSync(join(dir, n), '');
    assert.equal(isTempFileName('.v1.yaml.123-4.tmp'), true);
    assert.equal(isTempFileName('v1.yaml'), false);
    assert.deepEqual(removeTempFiles(dir, 'v1.yaml'), ['.v1.yaml.123-4.tmp']);
    assert.deepEqual(removeTempFiles(dir), ['.myapp.yaml.9-1.tmp']);
    assert.deepEqual(readdirSync(dir).sort(), ['.hidden', 'v1.yaml']);
  });

  it('creates and removes directory trees durably', (t) => {
    const dir = tempDir(t);
    assert.deepEqual(ensureDir(join(dir, 'a', 'b')), [join(dir, 'a'), join(dir, 'a', 'b')]);
    assert.deepEqual(ensureDir(join(dir, 'a', 'b')), []);
    writeFileSync(join(dir, 'a', 'b', 'f'), 'x');
    assert.equal(removeTreeDurable(join(dir, 'a')), true);
    assert.equal(removeTreeDurable(join(dir, 'a')), false);
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('appendFileDurable', () => {
  it('appends and reports the size before the append', (t) => {
    const dir = tempDir(t);
    const p = join(dir, '2026-01.jsonl');
    assert.equal(appendFileDurable(p, '{"a":1}\n'), 0);
    assert.equal(appendFileDurable(p, '{"b":2}\n'), 8);
    assert.equal(readFileSync(p, 'utf8'), '{"a":1}\n{"b":2}\n');
    assert.equal(mode(p), 0o644);
  });
});
