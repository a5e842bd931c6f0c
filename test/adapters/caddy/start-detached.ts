/**
 * Runs `startRouterDetached` in a process of its own, as `pvdifyd router start` does, then exits:
 * the test checks the router outlives it. Args: stateDir caddyPath adminAddress.
 */
import { startRouterDetached } from '../../../src/adapters/caddy/caddy-process.ts';

const [stateDir, caddyPath, adminAddress] = process.argv.slice(2);
if (!stateDir || !caddyPath || !adminAddress) throw new Error('usage: start-detached.ts STATE_DIR CADDY ADMIN');
const r = await startRouterDetached({ stateDir, caddyPath, adminAddress });
process.stdout.write(`${JSON.stringify(r)}\n`);
