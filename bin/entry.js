// Loads an entry point: the esbuild bundle dist/ names in <name>.json (bin/build.mjs), or the
// TypeScript sources through tsx when there is no bundle or, in a git checkout, a source file is
// newer than it (sources edited or pulled since the last build: a stale bundle is never used).
// An installed copy without .git is not checked: its sources only change with a new install,
// and `npm ci` rebuilds (prepare). PVDIFY_FROM_SOURCE=1 forces the sources.
//
// The CLI bundle is CommonJS compiled through vm.Script with a V8 code cache next to it, written
// by the first run that finds none (best effort: an unwritable dist/ only costs the speed-up).
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

const root = fileURLToPath(new URL('..', import.meta.url));

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** The build's manifest `{ bundle, format }`, or null when it is missing or stale. */
function freshManifest(name) {
  const file = `${root}/dist/${name}.json`;
  try {
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    // ~1–2 ms for the ~100 source files; only a checkout can have sources newer than its build.
    if (existsSync(`${root}/.git`)) {
      const built = statSync(file).mtimeMs;
      const newest = Math.max(newestSource(`${root}/src`), newestSource(`${root}/commands`), statSync(`${root}/package-lock.json`).mtimeMs);
      if (newest > built) return null;
    }
    return manifest;
  } catch {
    return null;
  }
}

/** Runs a CommonJS bundle with a V8 code cache; the cache is written at exit when it was missing or rejected. */
function requireWithCodeCache(file) {
  const cacheFile = `${file}.${process.version}-${process.arch}.v8cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  if (cachedData === undefined || script.cachedDataRejected) {
    // At exit, so the cache also holds the functions this command compiled (not only the top level).
    process.once('exit', () => {
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        // Read-only install or full disk: the next start compiles again, nothing else changes.
      }
    });
  }
  return module.exports;
}

function loadBundle(manifest) {
  const file = `${root}/dist/${manifest.bundle}`;
  return manifest.format === 'cjs' ? requireWithCodeCache(file) : import(pathToFileURL(file).href);
}

export async function loadEntry(name) {
  const manifest = process.env.PVDIFY_FROM_SOURCE === '1' ? null : freshManifest(name);
  if (manifest) {
    try {
      return await loadBundle(manifest);
    } catch (e) {
      // A build replaced the bundle between reading the manifest and the file: read it again.
      if (e?.code !== 'ENOENT') throw e;
      const again = freshManifest(name);
      if (again) return loadBundle(again);
    }
  }
  const { register } = await import('tsx/esm/api');
  register();
  return import(`../src/cli/${name}.ts`);
}
