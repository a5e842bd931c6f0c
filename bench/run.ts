/**
 * `npm run bench [-- NAME… [-- FLAGS]]`: runs the benchmarks one after another (they share two
 * cores, so never in parallel). Without names, all of them at full size. Flags after a second
 * `--` go to every selected benchmark, e.g. `npm run bench -- rebuild-index -- --apps 50`.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type BenchMain = (argv: string[]) => Promise<number>;

const dir = fileURLToPath(new URL('.', import.meta.url));
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const names = split === -1 ? argv : argv.slice(0, split);
const flags = split === -1 ? [] : argv.slice(split + 1);
const unknown = names.filter((n) => !all.includes(n));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; have: ${all.join(', ')}`);
  process.exit(1);
}

let failed = 0;
for (const name of names.length > 0 ? names : all) {
  console.log(`\n=== ${name} ${flags.join(' ')}`.trimEnd());
  const mod = (await import(`./${name}.bench.ts`)) as { main: BenchMain };
  const code = await mod.main(flags);
  if (code !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
