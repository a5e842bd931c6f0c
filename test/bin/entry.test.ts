/**
 * bin/entry.js decides between the dist/ bundle and the TypeScript sources. Each case runs the
 * real loader, copied into a temp tree with a tiny bundle and a tiny source that say which one
 * was loaded, in a child process (the code cache is written at exit).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Tree {
  root: string;
  /** Runs `loadEntry('pvdify')` in a child and returns what the loaded module's `which()` says. */
  load(env?: Record<string, string>): string;
  caches(): string[];
}

function makeTree(opts: { git: boolean; bundle: boolean }): Tree {
  const root = mkdtempSync(join(tmpdir(), 'pvdify-entry-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(join(REPO_ROOT, 'bin', 'entry.js'), join(root, 'bin', 'entry.js'));
  // The fallback imports tsx; the tree borrows the repository's node_modules for it.
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
  writeFileSync(join(root, 'package-lock.json'), '{}\n');
  mkdirSync(join(root, 'src', 'cli'), { recursive: true });
  mkdirSync(join(root, 'commands'));
  writeFileSync(join(root, 'src', 'cli', 'pvdify.ts'), "export const which = (): string => 'source';\n");
  writeFileSync(join(root, 'commands', 'index.ts'), 'export {};\n');
  if (opts.git) mkdirSync(join(root, '.git'));
  // Sources written "before" the build.
  const past = new Date(Date.now() - 60_000);
  for (const f of ['package-lock.json', 'src/cli/pvdify.ts', 'commands/index.ts']) utimesSync(join(root, f), past, past);
  if (opts.bundle) {
    mkdirSync(join(root, 'dist'));
    writeFileSync(join(root, 'dist', 'pvdify-0123456789abcdef.cjs'), "'use strict';\nexports.which = () => 'bundle';\n");
    writeFileSync(join(root, 'dist', 'pvdify.json'), '{"bundle":"pvdify-0123456789abcdef.cjs","format":"cjs"}\n');
    // Built after the sources, before any edit a test makes.
    const built = new Date(Date.now() - 30_000);
    utimesSync(join(root, 'dist', 'pvdify.json'), built, built);
  }
  const script = `const m = await (await import(${JSON.stringify(join(root, 'bin', 'entry.js'))})).loadEntry('pvdify'); process.stdout.write(m.which());`;
  return {
    root,
    load: (env = {}) =>
      execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        encoding: 'utf8',
      }),
    caches: () => (opts.bundle ? readdirSync(join(root, 'dist')).filter((f) => f.endsWith('.v8cache')) : []),
  };
}

describe('bin/entry.js', () => {
  let tree: Tree | null = null;
  beforeEach(() => {
    tree = null;
  });
  afterEach(() => {
    if (tree) rmSync(tree.root, { recursive: true, force: true });
  });

  it('loads the bundle when it is newer than the sources, and writes its code cache at the first run', () => {
    tree = makeTree({ git: true, bundle: true });
    assert.equal(tree.load(), 'bundle');
    assert.deepEqual(tree.caches(), [`pvdify-0123456789abcdef.cjs.${process.version}-${process.arch}.v8cache`]);
    assert.equal(tree.load(), 'bundle', 'the second run uses the cache');
  });

  it('in a git checkout, falls back to the sources when one is newer than the build', () => {
    tree = makeTree({ git: true, bundle: true });
    writeFileSync(join(tree.root, 'src', 'cli', 'pvdify.ts'), "export const which = (): string => 'source';\n");
    assert.equal(tree.load(), 'source');
  });

  it('an installed copy (no .git) trusts its build', () => {
    tree = makeTree({ git: false, bundle: true });
    writeFileSync(join(tree.root, 'src', 'cli', 'pvdify.ts'), "export const which = (): string => 'source';\n");
    assert.equal(tree.load(), 'bundle');
  });

  it('uses the sources without a build, or when PVDIFY_FROM_SOURCE=1', () => {
    tree = makeTree({ git: false, bundle: false });
    assert.equal(tree.load(), 'source');
    rmSync(tree.root, { recursive: true, force: true });
    tree = makeTree({ git: true, bundle: true });
    assert.equal(tree.load({ PVDIFY_FROM_SOURCE: '1' }), 'source');
  });

  it('recompiles and rewrites a code cache V8 rejects', () => {
    tree = makeTree({ git: false, bundle: true });
    assert.equal(tree.load(), 'bundle');
    const [cache] = tree.caches();
    assert.ok(cache);
    writeFileSync(join(tree.root, 'dist', cache), 'not a code cache');
    assert.equal(tree.load(), 'bundle');
    assert.notEqual(readFileSync(join(tree.root, 'dist', cache), 'utf8'), 'not a code cache');
  });
});
