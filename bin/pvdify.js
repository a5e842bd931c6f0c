#!/usr/bin/env node
// `pvdify`: the command grammar of `/pvdify`, run locally as `cli:<unix user>`.
import { register } from 'tsx/esm/api';
register();
const { runCli } = await import('../src/cli/pvdify.ts');
process.exitCode = await runCli(process.argv.slice(2));
