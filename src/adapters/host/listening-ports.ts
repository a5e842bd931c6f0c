/**
 * TCP ports something listens on, read from /proc/net/tcp{,6} (Linux). Synchronous on purpose:
 * the store allocates `bind_port` inside its write transaction, where nothing can await. Ports
 * that pvdify's own router holds are included too; the store skips those anyway (they belong to
 * apps). Elsewhere than Linux the set is empty and a taken port is caught by the router instead.
 */
import { readFileSync } from 'node:fs';

const LISTEN = '0A';

export function parseProcNetTcp(text: string): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    if (!local || fields[3] !== LISTEN) continue;
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}

export function listeningTcpPorts(files: readonly string[] = ['/proc/net/tcp', '/proc/net/tcp6']): Set<number> {
  const ports = new Set<number>();
  for (const file of files) {
    try {
      for (const p of parseProcNetTcp(readFileSync(file, 'utf8'))) ports.add(p);
    } catch {
      // No procfs (or no IPv6): nothing known from this file.
    }
  }
  return ports;
}
