import type { IncomingHttpHeaders } from 'node:http';
import { sameSecret, validSession } from './web-auth.js';

/**
 * What the console lets through, decided before any route runs. Pure: headers in,
 * verdict out.
 *
 * 1. DNS rebinding: a page on evil.example whose name is made to resolve to 127.0.0.1
 *    reaches the console as same-origin, so the `Host` header must name the console
 *    itself: a loopback name or the bound host, with the bound port (any name when bound
 *    to all interfaces, where a token is required anyway).
 * 2. Methods: GET and HEAD read; POST changes (retry, purge, log in and out). Anything
 *    else, OPTIONS included, is a 405: the console never answers a CORS preflight, so no
 *    other origin can send it the custom header below.
 * 3. CSRF: an `Origin` header, when present, must be the console's own, and so must
 *    `Sec-Fetch-Site` on a POST. A POST to `/api/` must carry `X-Event-Reactor: 1`, which
 *    an HTML form cannot send and a cross-origin script can send only after a preflight.
 *    `/login` and `/logout` are plain forms: they need a same-origin `Origin` instead
 *    (or no browser headers at all: a script with the token).
 * 4. With a token, every path but the login page, the static assets and `/healthz`
 *    needs it: a bearer header, the session cookie, or `?token=` on `/api/stream`.
 */

/** The custom header a state-changing API request must carry, with value `1`. */
export const ACTION_HEADER = 'x-event-reactor';

export interface GuardPolicy {
  /** Host names accepted in `Host` (lower case, IPv6 without brackets); undefined accepts any. */
  hosts: ReadonlySet<string> | undefined;
  /** The port the console listens on. */
  port: number;
  /** The token, when one is required. */
  token: string | undefined;
  /** Name of the session cookie. */
  cookie: string;
}

export interface GuardRequest {
  method: string;
  /** The URL's path, decoded as the router sees it. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Unix ms, for the session's age. */
  now: number;
}

export type GuardVerdict =
  | { ok: true; authenticated: boolean }
  | {
      ok: false;
      status: 400 | 401 | 403 | 405;
      reason: string;
      /** A browser asking for a page: send it to the login page instead. */
      login?: boolean;
      /** A token or session was given, and it is wrong or expired (worth a warning in the log). */
      wrongToken?: boolean;
    };

const PUBLIC = (path: string): boolean => path === '/login' || path === '/healthz' || path.startsWith('/assets/');
const FORMS = new Set(['/login', '/logout']);
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** The host names a console bound to `host` answers to; undefined (any) for all interfaces. */
export function allowedHosts(host: string): Set<string> | undefined {
  const h = host.toLowerCase();
  if (h === '0.0.0.0' || h === '::' || h === '' || h === '*') return undefined;
  return new Set([...LOOPBACK_NAMES, h]);
}

/** `Host: name[:port]` split; undefined when it does not parse. */
export function parseHostHeader(value: string): { name: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/i.exec(value.trim());
  if (!m) return undefined;
  return { name: (m[1] ?? m[2]!).toLowerCase().replace(/\.$/, ''), port: m[3] === undefined ? 80 : Number(m[3]) };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The value of cookie `name` in a `Cookie` header. */
export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function guardRequest(req: GuardRequest, policy: GuardPolicy): GuardVerdict {
  const host = header(req.headers, 'host');
  const parsed = host === undefined ? undefined : parseHostHeader(host);
  if (!parsed) return { ok: false, status: 400, reason: 'a Host header is required' };
  if (policy.hosts && (!policy.hosts.has(parsed.name) || parsed.port !== policy.port)) {
    return { ok: false, status: 403, reason: `Host "${host}" is not this console's address (requests through other names are refused: DNS rebinding)` };
  }

  const method = req.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return { ok: false, status: 405, reason: 'only GET, HEAD and POST' };

  const origin = header(req.headers, 'origin');
  if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
    return { ok: false, status: 403, reason: `cross-origin request from ${origin} refused` };
  }
  if (method === 'POST') {
    const site = header(req.headers, 'sec-fetch-site');
    if (site !== undefined && site !== 'same-origin') return { ok: false, status: 403, reason: `cross-site request refused (Sec-Fetch-Site: ${site})` };
    if (FORMS.has(req.path)) {
      if (origin === undefined && site !== undefined) return { ok: false, status: 403, reason: 'a form post needs an Origin header' };
    } else if (header(req.headers, ACTION_HEADER) !== '1') {
      return { ok: false, status: 403, reason: `a request that changes something needs the header X-Event-Reactor: 1` };
    }
  }

  if (policy.token === undefined) return { ok: true, authenticated: false };
  if (PUBLIC(req.path)) return { ok: true, authenticated: false };
  const auth = header(req.headers, 'authorization');
  const bearer = auth === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
  if (bearer !== undefined && sameSecret(bearer, policy.token)) return { ok: true, authenticated: true };
  const session = cookieValue(header(req.headers, 'cookie'), policy.cookie);
  if (session !== undefined && validSession(session, policy.token, req.now)) return { ok: true, authenticated: true };
  const queryToken = req.path === '/api/stream' ? req.query.get('token') : null;
  if (queryToken !== null && sameSecret(queryToken, policy.token)) return { ok: true, authenticated: true };
  const page = (method === 'GET' || method === 'HEAD') && !req.path.startsWith('/api/') && !req.path.startsWith('/partials/');
  const given = bearer !== undefined || session !== undefined || queryToken !== null;
  return {
    ok: false,
    status: 401,
    reason: given ? 'wrong or expired token' : 'a token is required (Authorization: Bearer <token>, or log in)',
    ...(page ? { login: true } : {}),
    ...(given ? { wrongToken: true } : {}),
  };
}
