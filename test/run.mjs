#!/usr/bin/env node
// Runs every *.test.ts under test/ with node's test runner. Node 20 does not discover .ts
// files itself, so the list is expanded here. A run that executes no test fails.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else if (name.endsWith('.test.ts')) out.push(relative(root, full));
  }
  return out;
}

let files = walk(join(root, 'test'));
if (filters.length > 0) files = files.filter((f) => filters.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const child = spawn(process.execPath, [
  '--import', 'tsx', '--test', '--test-reporter=spec',
  `--test-concurrency=${process.env.PVDIFY_TEST_CONCURRENCY ?? '1'}`, ...files,
], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => { out += chunk; process.stdout.write(chunk); });
const status = await new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
const count = (label) => Number((new RegExp(`^ℹ ${label} (\\d+)$`, 'm').exec(out) ?? [0, 0])[1]);
// A test cut off by a timeout is "cancelled", not "fail": it is a failure all the same.
const failed = count('fail') + count('cancelled');
console.log(`${count('pass')} passed, ${failed} failed${count('cancelled') > 0 ? ` (${count('cancelled')} cancelled by a timeout)` : ''}, ${count('skipped')} skipped`);
if (count('tests') === 0) {
  console.error('no test ran: failing the run');
  process.exit(1);
}
process.exit(status);
