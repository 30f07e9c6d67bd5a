import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The lowest port of the kernel's ephemeral range: the ports listen(0) hands out, and the local
 * ends of outgoing connections (32768–60999 by default on Linux).
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 12_000) return low;
  } catch {
    // not Linux: assume the IANA range
  }
  return 49_152;
}
const LOW = 10_000;
const HIGH = ephemeralLow();

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for a server a test starts later. Chosen at
 * random below the ephemeral range: a port listen(0) picks can be taken before the server binds it
 * as the local end of any outgoing connection — the suite holds hundreds, to PostgreSQL among
 * others — and then the bind fails (EADDRINUSE even with SO_REUSEADDR). CI once saw `npm start`'s
 * embedded PostgreSQL exit at start-up, most likely so: its build leaves seconds between the two.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await tryListen(port)) return port;
  }
  throw new Error(`no free port found between ${LOW} and ${HIGH}`);
}
