/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it). A port is handed out
 * once per process: two callers asking in a row (an admin port, then a router's bind ports)
 * could otherwise get the same one back from the OS and collide when both bind it.
 */
import { createServer } from 'node:net';

const handedOut = new Set<number>();

function osPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await osPort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('the OS kept handing out ports this process already uses');
}
