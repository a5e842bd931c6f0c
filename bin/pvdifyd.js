#!/usr/bin/env node
// `pvdifyd`: the daemon (`serve`) and the operator's maintenance commands.
import { loadEntry } from './entry.js';

const { runDaemonCli } = await loadEntry('pvdifyd');
process.exitCode = await runDaemonCli(process.argv.slice(2));
