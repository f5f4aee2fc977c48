/**
 * tsfunc handler: check that a URL answers, and how fast.
 *
 * Copy to the handler directory and register it in event-handlers.json; the event
 * carries the URL, so one registration serves any number of checks fired by cron or a
 * monitoring script
 * (`fire-event -e check.http -d '{"url": "https://example.org/health"}'`):
 *   "local:check.http": [
 *     { "driver": "tsfunc", "handler": "http-check.check", "timeout": 15 }
 *   ]
 * The handler timeout bounds the request: the fetch is aborted with ctx.signal.
 *
 * Payload: url (http or https, required); method (default GET); expect_status (default:
 * any 2xx). Returns { url, status, ok, latency_ms } as the result's data. An unexpected
 * status, a refused connection, a DNS failure or the timeout is thrown, and so becomes
 * an error result: status "error" (or "timeout") with the message, in the results
 * collection. To act on failures, fire an event from here instead of throwing, e.g.
 * `await ctx.fire({ event_type: 'check.failed', payload: { url, subject: url } })` for
 * escalate.escalate to count.
 */
import type { ReactorEvent, TsHandlerContext } from 'event-reactor';

export interface HttpCheckResult {
  url: string;
  status: number;
  ok: boolean;
  /** Time to the response headers, in milliseconds. */
  latency_ms: number;
}

export async function check(event: ReactorEvent, ctx: TsHandlerContext): Promise<HttpCheckResult> {
  const p = typeof event.payload === 'object' && event.payload !== null ? (event.payload as Record<string, unknown>) : {};
  const url = parseUrl(p['url']);
  const method = typeof p['method'] === 'string' ? p['method'].toUpperCase() : 'GET';
  const expect = p['expect_status'];
  if (expect !== undefined && (typeof expect !== 'number' || !Number.isInteger(expect))) {
    throw new TypeError(`payload.expect_status must be an HTTP status code, got ${JSON.stringify(expect)}`);
  }

  const started = performance.now();
  let res: Response;
  try {
    res = await fetch(url, { method, signal: ctx.signal, headers: { 'user-agent': 'event-reactor-http-check' } });
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    // fetch() says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND...) is in the cause.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${method} ${url.href} failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`, { cause: err });
  }
  const latency = Math.round(performance.now() - started);
  // The body is not needed: release the connection.
  await res.body?.cancel().catch(() => undefined);

  const result: HttpCheckResult = { url: url.href, status: res.status, ok: res.ok, latency_ms: latency };
  const good = typeof expect === 'number' ? res.status === expect : res.ok;
  if (!good) {
    throw new Error(`${method} ${url.href} answered ${res.status} in ${latency} ms; expected ${typeof expect === 'number' ? expect : 'a 2xx status'}`);
  }
  ctx.log.debug(result, 'http check ok');
  return result;
}

function parseUrl(v: unknown): URL {
  if (typeof v !== 'string') throw new TypeError(`payload.url must be a string, got ${JSON.stringify(v)}`);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new TypeError(`payload.url is not a URL: ${JSON.stringify(v)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`payload.url must be http or https, got ${url.protocol}`);
  return url;
}
