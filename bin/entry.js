// Loads an entry point: the esbuild bundle in dist/ when it is newer than every source file,
// otherwise the TypeScript sources through tsx (a fresh checkout, or sources edited since the
// last build). PVDIFY_FROM_SOURCE=1 forces the sources.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

function bundleIsFresh(name) {
  try {
    const built = statSync(`${root}/dist/${name}.mjs`).mtimeMs;
    return built >= Math.max(newestSource(`${root}/src`), newestSource(`${root}/commands`), statSync(`${root}/package-lock.json`).mtimeMs);
  } catch {
    return false;
  }
}

export async function loadEntry(name) {
  if (process.env.PVDIFY_FROM_SOURCE !== '1' && bundleIsFresh(name)) return import(`../dist/${name}.mjs`);
  const { register } = await import('tsx/esm/api');
  register();
  return import(`../src/cli/${name}.ts`);
}
