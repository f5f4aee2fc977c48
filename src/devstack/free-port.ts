import { createServer } from 'node:net';
import { ServiceError } from '../errors.js';

/**
 * Ask the kernel for a TCP port that is free on 127.0.0.1 right now.
 *
 * The port is released before this resolves, so another process may take it before the
 * caller binds it; callers that spawn a server on it should retry on a bind failure.
 *
 * @returns a port number in the ephemeral range
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err) => {
      reject(new ServiceError('could not find a free TCP port on 127.0.0.1', { cause: err }));
    });
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close((err) => {
        if (err) reject(new ServiceError('could not release probe port', { cause: err }));
        else if (port === undefined) reject(new ServiceError('probe socket has no TCP address'));
        else resolve(port);
      });
    });
  });
}
