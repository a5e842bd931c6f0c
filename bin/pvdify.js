#!/usr/bin/env node
// `pvdify`: the command grammar of `/pvdify`, run locally as `cli:<unix user>` — in the running
// pvdifyd when one serves this state dir (bin/control-client.js), otherwise in this process.
import { runThroughDaemon } from './control-client.js';

const argv = process.argv.slice(2);
const viaDaemon = await runThroughDaemon(argv);
if (viaDaemon !== null) {
  process.exitCode = viaDaemon;
} else {
  const { loadEntry } = await import('./entry.js');
  const { runCli } = await loadEntry('pvdify');
  process.exitCode = await runCli(argv);
}
