import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';

/** A TCP address to listen on: `host:port`, `[v6]:port` or `:port` (all interfaces). */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Parse `host:port`. Port 0 picks a free port.
 *
 * @param where - what the address is, for the error (a config key path or a flag)
 * @throws {ConfigError} naming `where` when it is not `host:port` with a port from 0 to 65535
 */
export function parseListenAddress(text: string, where: { file: string; path: string }): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65_535)) {
    throw new ConfigError([{ ...where, message: `"${text}" is not an address to listen on: use host:port, e.g. 127.0.0.1:9470 (port 0 picks a free one)` }]);
  }
  const host = m[1] ?? (m[2] === '' || m[2] === '*' ? '0.0.0.0' : m[2]!);
  return { host, port };
}

/** True for addresses only this host can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
