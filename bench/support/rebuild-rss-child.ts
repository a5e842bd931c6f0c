/**
 * Child process for the rebuild benchmark: opens the store at argv[2], runs one
 * `rebuildIndex()` and prints its peak RSS (`process.resourceUsage().maxRSS`, KiB) as JSON, so the
 * figure covers the rebuild alone and not the generator or the parent's other rounds.
 */
import { silentLogger, systemClock } from '../../src/core/ports/clock.ts';
import { openStateStore } from '../../src/store/state-store.ts';

const root = process.argv[2];
if (!root) {
  console.error('usage: rebuild-rss-child.ts STATE_DIR');
  process.exit(2);
}
const beforeKiB = process.resourceUsage().maxRSS;
const store = openStateStore({ root, clock: systemClock, log: silentLogger });
const openKiB = process.resourceUsage().maxRSS;
const report = store.rebuildIndex();
store.close();
process.stdout.write(
  `${JSON.stringify({ beforeKiB, openKiB, maxRssKiB: process.resourceUsage().maxRSS, durationMs: report.durationMs, releases: report.releases })}\n`,
);
