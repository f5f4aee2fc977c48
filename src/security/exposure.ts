import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { isIP } from 'node:net';

/** A bind address that other hosts (or other local users) could reach. */
export interface ExposedEndpoint {
  /** The socket's name: `PULL`, `REP`, `PUB`, `replay`. */
  socket: string;
  endpoint: string;
  /** Why it is not local. */
  why: string;
}

/**
 * Why `endpoint` is reachable by others, or undefined when only this host's loopback (or
 * this user, for ipc) can reach it. Local: tcp on 127.0.0.0/8, `localhost` or `::1`;
 * `inproc://`; `ipc://` whose socket file, or, before it exists, whose directory, others
 * cannot write (connecting to a unix socket needs write permission on it).
 *
 * @param statMode - file mode lookup, for tests; undefined when the path does not exist
 */
export function exposure(endpoint: string, statMode: (path: string) => number | undefined = modeOf): string | undefined {
  const m = /^([a-z]+):\/\/(.*)$/i.exec(endpoint);
  if (!m) return `"${endpoint}" is not a ZeroMQ endpoint`;
  const [, transport, rest] = m as unknown as [string, string, string];
  switch (transport.toLowerCase()) {
    case 'inproc':
      return undefined;
    case 'ipc': {
      const path = rest.startsWith('@') ? undefined : rest;
      if (path === undefined) return 'an abstract unix socket: any local user can connect';
      const own = statMode(path);
      if (own !== undefined) return (own & 0o002) !== 0 ? `its socket file ${path} is writable by others` : undefined;
      const dir = statMode(dirname(path));
      if (dir !== undefined && (dir & 0o002) !== 0 && (dir & 0o1000) === 0) return `its directory ${dirname(path)} is writable by others`;
      return undefined;
    }
    case 'tcp':
    case 'ws':
    case 'wss': {
      const host = hostOf(rest);
      if (host === '*' || host === '0.0.0.0' || host === '::' || host === '') return 'all interfaces';
      if (host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))) return undefined;
      return isIP(host) === 0 ? `interface or host "${host}"` : `address ${host}`;
    }
    default:
      return `transport ${transport}`;
  }
}

/** The host part of `host:port`, `[v6]:port` or `iface;host:port` forms; brackets removed. */
function hostOf(rest: string): string {
  const addr = rest.includes(';') ? rest.slice(rest.indexOf(';') + 1) : rest;
  if (addr.startsWith('[')) return addr.slice(1, addr.indexOf(']'));
  const colon = addr.lastIndexOf(':');
  return colon < 0 ? addr : addr.slice(0, colon);
}

function modeOf(path: string): number | undefined {
  try {
    return statSync(path).mode;
  } catch {
    return undefined;
  }
}

/** Endpoints of `sockets` that others could reach. */
export function exposedEndpoints(sockets: readonly { socket: string; endpoint: string }[], statMode?: (path: string) => number | undefined): ExposedEndpoint[] {
  return sockets.flatMap(({ socket, endpoint }) => {
    const why = exposure(endpoint, statMode);
    return why === undefined ? [] : [{ socket, endpoint, why }];
  });
}

/**
 * Protected mode (as Redis has it): what to tell an operator whose router, without CURVE,
 * would bind `exposed` endpoints. Names each socket and address and the two ways out.
 */
export function protectedModeMessage(exposed: readonly ExposedEndpoint[]): string {
  const list = exposed.map((e) => `${e.socket} socket on ${e.endpoint} (${e.why})`).join('; ');
  return (
    `protected mode: refusing to bind the ${list} without authentication: anyone who can reach it could fire events (and so run handlers) or read every event. ` +
    'Either turn on "security.curve": true (after `event-reactor keys init`), or bind to 127.0.0.1, ' +
    'or set "security.allow_insecure": true to accept unauthenticated clients from the network (warned at every start)'
  );
}
