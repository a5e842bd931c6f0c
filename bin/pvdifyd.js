#!/usr/bin/env node
// `pvdifyd`: the daemon (`serve`) and the operator's maintenance commands.
import { register } from 'tsx/esm/api';
register();
const { runDaemonCli } = await import('../src/cli/pvdifyd.ts');
process.exitCode = await runDaemonCli(process.argv.slice(2));
