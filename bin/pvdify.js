#!/usr/bin/env node
// `pvdify`: the command grammar of `/pvdify`, run locally as `cli:<unix user>`.
import { loadEntry } from './entry.js';

const { runCli } = await loadEntry('pvdify');
process.exitCode = await runCli(process.argv.slice(2));
