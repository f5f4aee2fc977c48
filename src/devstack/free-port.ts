import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ServiceError } from '../errors.js';

/** Lowest port tried; below it sit well-known and registered services. */
const LOW_PORT = 20_000;
/** Random ports tried before falling back to one the kernel picks. */
const TRIES = 50;
/** Ports this process handed out already, so two callers never get the same one. */
const handedOut = new Set<number>();

/**
 * A TCP port that is free on 127.0.0.1 right now.
 *
 * The port is chosen at random BELOW the kernel's ephemeral range
 * (`/proc/sys/net/ipv4/ip_local_port_range`): the kernel hands ports from that range to
 * every outgoing connection, so a port picked there can be taken by some client's
 * connect() before the caller binds it. Below the range only another caller of a
 * probe like this one can collide, and the random choice makes that rare. The port is
 * released before this resolves; callers that spawn a server on it should still retry
 * on a bind failure.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  for (let i = 0; high > LOW_PORT && i < TRIES; i++) {
    const port = LOW_PORT + Math.floor(Math.random() * (high - LOW_PORT + 1));
    if (handedOut.has(port)) continue;
    // Reserved before the probe, so concurrent callers cannot both pick it.
    handedOut.add(port);
    if ((await probe(port)) !== undefined) return port;
    handedOut.delete(port);
  }
  const port = await probe(0);
  if (port === undefined) throw new ServiceError('could not find a free TCP port on 127.0.0.1');
  handedOut.add(port);
  return port;
}

/** First port of the kernel's ephemeral range; Linux's default when it cannot be read. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Bind and release `port` (0: any) on 127.0.0.1; the port bound, or undefined if it was taken. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (port !== 0 && (err.code === 'EADDRINUSE' || err.code === 'EACCES')) resolve(undefined);
      else reject(new ServiceError('could not find a free TCP port on 127.0.0.1', { cause: err }));
    });
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close((err) => {
        if (err) reject(new ServiceError('could not release probe port', { cause: err }));
        else resolve(bound);
      });
    });
  });
}
