/**
 * tsfunc handler: check that a URL answers, and how fast, on hosts the operator allows.
 *
 * Copy to the handler directory and register it in event-handlers.json with the hosts it
 * may reach; the event carries the URL, so one registration serves any number of checks
 * fired by cron or a monitoring script
 * (`fire-event -e check.http -d '{"url": "https://example.org/health"}'`):
 *   "local:check.http": [
 *     { "driver": "tsfunc", "handler": "http-check.check", "timeout": 15,
 *       "env": { "HTTP_CHECK_ALLOW": "example.org, status.example.org:8443" } }
 *   ]
 * The handler timeout bounds the request: the fetch is aborted with ctx.signal.
 *
 * Allow-list. Events come from anyone who can reach the router, so the URL is theirs to
 * choose; without a list this handler would request, for them, any address the worker
 * can reach: cloud metadata (169.254.169.254), admin ports on localhost, hosts behind the
 * firewall. The list is the operator's, never the event's: HTTP_CHECK_ALLOW in the
 * entry's `env` (ctx.env), else in process.env (when the module runs outside the
 * worker). Entries, separated by commas or spaces:
 *   host          that host on its scheme's default port (80 for http, 443 for https)
 *   host:port     that host on that port
 *   host:*        that host on any port
 *   *.domain      any name under domain, not domain itself (with :port or :* as above)
 * Hosts are compared as URLs write them: lower case, punycode, IPv4 in dotted decimal
 * (so http://2130706433/ and http://127.1/ are 127.0.0.1), IPv6 in brackets
 * ([::1]:8080), a final dot dropped. An empty or missing list refuses every URL. A URL
 * whose host is not on the list is refused before any connection is made.
 * Redirects are followed here, not by fetch: at most 5, each Location checked like the
 * first URL (http or https, host on the list) before it is requested.
 * The list trusts DNS: an allowed name is reached wherever its DNS points, so list names
 * whose DNS you control, or addresses.
 *
 * Payload: url (http or https, required); method (GET or HEAD, default GET: a check
 * reads, it must not change anything on the hosts it may reach); expect_status (default:
 * any 2xx). Returns { url, status, ok, latency_ms }, plus final_url after redirects, as
 * the result's data. A refused URL, an unexpected status, a refused connection, a DNS
 * failure or the timeout is thrown, and so becomes an error result: status "error" (or
 * "timeout") with the message, in the results collection (retried as the entry's
 * `retries` says; a refusal will not change, so "retries": 0 suits checks). To act on
 * failures, fire an event from here instead of throwing, e.g.
 * `await ctx.fire({ event_type: 'check.failed', payload: { url, subject: url } })` for
 * escalate.escalate to count.
 */
import type { ReactorEvent, TsHandlerContext } from 'event-reactor';

export interface HttpCheckResult {
  url: string;
  status: number;
  ok: boolean;
  /** Time to the final response's headers, redirects included, in milliseconds. */
  latency_ms: number;
  /** The URL that gave the final answer, when a redirect led there. */
  final_url?: string;
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const METHODS = new Set(['GET', 'HEAD']);

export async function check(event: ReactorEvent, ctx: TsHandlerContext): Promise<HttpCheckResult> {
  const p = typeof event.payload === 'object' && event.payload !== null ? (event.payload as Record<string, unknown>) : {};
  const url = parseUrl(p['url'], 'payload.url');
  const method = typeof p['method'] === 'string' ? p['method'].toUpperCase() : 'GET';
  // A check reads; the event must not make it change anything on an allowed host.
  if (!METHODS.has(method)) throw new TypeError(`payload.method must be GET or HEAD, got ${JSON.stringify(p['method'])}`);
  const expect = p['expect_status'];
  if (expect !== undefined && (typeof expect !== 'number' || !Number.isInteger(expect))) {
    throw new TypeError(`payload.expect_status must be an HTTP status code, got ${JSON.stringify(expect)}`);
  }
  // ctx.env is how the worker passes the entry's env; older workers had none.
  const allow = parseAllowList(ctx.env?.['HTTP_CHECK_ALLOW'] ?? process.env['HTTP_CHECK_ALLOW']);

  const started = performance.now();
  let current = url;
  let res: Response;
  for (let hops = 0; ; hops++) {
    assertAllowed(current, allow, hops === 0 ? 'payload.url' : `redirect ${hops} of ${url.href}`);
    res = await request(current, method, ctx.signal);
    const location = REDIRECTS.has(res.status) ? res.headers.get('location') : null;
    if (location === null) break;
    await res.body?.cancel().catch(() => undefined);
    if (hops === MAX_REDIRECTS) throw new Error(`${method} ${url.href} was redirected more than ${MAX_REDIRECTS} times`);
    current = parseUrl(location, `the redirect from ${current.href}`, current);
  }
  const latency = Math.round(performance.now() - started);
  // The body is not needed: release the connection.
  await res.body?.cancel().catch(() => undefined);

  const result: HttpCheckResult = { url: url.href, status: res.status, ok: res.ok, latency_ms: latency };
  if (current !== url) result.final_url = current.href;
  const good = typeof expect === 'number' ? res.status === expect : res.ok;
  if (!good) {
    throw new Error(`${method} ${current.href} answered ${res.status} in ${latency} ms; expected ${typeof expect === 'number' ? expect : 'a 2xx status'}`);
  }
  ctx.log.debug(result, 'http check ok');
  return result;
}

async function request(url: URL, method: string, signal: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, { method, signal, redirect: 'manual', headers: { 'user-agent': 'event-reactor-http-check' } });
  } catch (err) {
    if (signal.aborted) throw err;
    // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND...) is in the cause.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${method} ${url.href} failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
  }
}

function parseUrl(v: unknown, what: string, base?: URL): URL {
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string, got ${JSON.stringify(v)}`);
  let url: URL;
  try {
    url = new URL(v, base);
  } catch {
    throw new TypeError(`${what} is not a URL: ${JSON.stringify(v)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`${what} must be http or https, got ${url.protocol}`);
  return url;
}

/** One HTTP_CHECK_ALLOW entry; `port` undefined = the scheme's default port. */
interface AllowEntry {
  host: string;
  /** `*.host`: names under host. */
  subdomains: boolean;
  port: number | '*' | undefined;
}

function parseAllowList(text: string | undefined): AllowEntry[] {
  const entries: AllowEntry[] = [];
  for (const entry of (text ?? '').split(/[\s,]+/)) {
    if (entry === '') continue;
    const bad = (why: string): TypeError => new TypeError(`HTTP_CHECK_ALLOW: ${JSON.stringify(entry)} ${why}; entries are host, host:port, host:* or *.domain`);
    const subdomains = entry.startsWith('*.');
    const m = /^(\[[^\]/?#@]+\]|[^:[\]/?#@]+)(?::(\d{1,5}|\*))?$/.exec(subdomains ? entry.slice(2) : entry);
    if (!m) throw bad('is not a host pattern');
    let host: string;
    try {
      host = normalHost(new URL(`http://${m[1]}/`).hostname);
    } catch {
      throw bad('is not a host name or address');
    }
    if (subdomains && (host.startsWith('[') || /^[\d.]+$/.test(host))) throw bad('puts *. before an address');
    const port = m[2] === undefined || m[2] === '*' ? m[2] : Number(m[2]);
    if (typeof port === 'number' && (port < 1 || port > 65_535)) throw bad('has a port outside 1-65535');
    entries.push({ host, subdomains, port });
  }
  return entries;
}

function assertAllowed(url: URL, allow: readonly AllowEntry[], what: string): void {
  const host = normalHost(url.hostname);
  const defaultPort = url.protocol === 'https:' ? 443 : 80;
  const port = url.port === '' ? defaultPort : Number(url.port);
  const allowed = allow.some(
    (e) =>
      (e.subdomains ? host.endsWith(`.${e.host}`) : host === e.host) && (e.port === '*' || e.port === port || (e.port === undefined && port === defaultPort)),
  );
  if (allowed) return;
  if (allow.length === 0) {
    throw new Error(`refusing ${url.href} (${what}): HTTP_CHECK_ALLOW is empty, so no host may be checked; list the hosts in the entry's env`);
  }
  throw new Error(`refusing ${url.href} (${what}): ${host}:${port} is not in HTTP_CHECK_ALLOW`);
}

/** A host name as it is compared: the URL parser's form, without a final dot. */
function normalHost(host: string): string {
  return host.endsWith('.') ? host.slice(0, -1) : host;
}
