import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ArchiveReader } from '../archive/archive.js';
import type { StatusReport } from '../daemons/stack-status.js';
import { ReactorError, TransportError, UnknownHandlerError, coerceError } from '../errors.js';
import { isLoopback, type ListenAddress } from '../http/listen-address.js';
import type { Logger } from '../logger.js';
import type { DeadJob } from '../queue/dead-letters.js';
import { loadAssets, type Asset } from './assets.js';
import { chartView } from './chart-view.js';
import { dlqView } from './dlq-view.js';
import { eventView, searchView } from './event-views.js';
import { healthView } from './health-view.js';
import { html, type SafeHtml } from './html.js';
import type { LiveEvent } from './live-stream.js';
import type { RateHistory } from './metrics-sampler.js';
import { loginView, overviewView } from './overview-view.js';
import { page, type NavPage } from './page-layout.js';
import { allowedHosts, guardRequest, type GuardPolicy } from './request-guard.js';
import { parseSearch } from './search-query.js';
import { SESSION_MS, refuseExposedWithoutToken, sameSecret, sessionValue, type WebToken } from './web-auth.js';

/** The dead-letter queue as the console uses it (`DeadLetters` in queue/dead-letters.ts). */
export interface DeadLetterQueue {
  list(): Promise<DeadJob[]>;
  retry(jobId: string): Promise<boolean>;
  purge(jobId: string): Promise<boolean>;
  retryAll(): Promise<number>;
  purgeAll(): Promise<number>;
}

/** The live stream as the console uses it (`LiveStream` in live-stream.ts). */
export interface LiveFeed {
  readonly last: number;
  since(n: number): LiveEvent[];
  subscribe(listener: (e: LiveEvent) => void): () => void;
}

export interface WebConsoleOptions {
  address: ListenAddress;
  /** Required unless `address` is loopback. */
  token: WebToken | undefined;
  /** Where `address` was set, for the refusal message: `{file: config.json, path: 'http.web'}` or the flag. */
  addressFrom: { file: string; path: string };
  archive: ArchiveReader;
  deadLetters: DeadLetterQueue;
  live: LiveFeed;
  /** The chart's data (a MetricsSampler's `history()`). */
  rates: () => RateHistory;
  /** The stack's status (`collectStatus(settings)`); the console asks at most every few seconds. */
  status: () => Promise<StatusReport>;
  log: Logger;
  /** Most live-stream connections at once; default 64. */
  maxStreams?: number;
  /** Static files; default: read from src/web/assets. */
  assets?: Map<string, Asset>;
}

/** How long one status report serves every page that asks, in ms. */
const STATUS_TTL_MS = 3000;
/** A live-stream client this far behind (bytes queued) is cut off; it reconnects and resumes. */
const STREAM_BACKLOG_BYTES = 1 << 20;
const HEARTBEAT_MS = 15_000;
/** Largest body read (a login form). */
const MAX_BODY = 4096;
/** Time a wrong login costs, in ms: guessing a long token is hopeless anyway, this keeps it slow. */
const LOGIN_FAILURE_DELAY_MS = 500;

/** Every response carries these: no script or style but our own files, no framing, no referrer to other sites. */
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  // Not no-referrer: with it, Chromium sends "Origin: null" on form posts, which the guard refuses.
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The web console's HTTP server: pages rendered on the server (every value escaped, see
 * html.ts), one small script and stylesheet, JSON under `/api/`, and the live stream as
 * server-sent events on `/api/stream`. Every request passes request-guard.ts first.
 * It holds no connection of its own: the archive, the dead letters, the live stream and
 * the sampler are given to it (start-web-console.ts builds them) and closed by their owner.
 */
export class WebConsole {
  readonly #o: WebConsoleOptions;
  readonly #server: Server;
  readonly #streams = new Set<ServerResponse>();
  readonly #assets: Map<string, Asset>;
  #policy: GuardPolicy | undefined;
  #url: string | undefined;
  #status: { at: number; report: Promise<StatusReport> } | undefined;
  #closing: Promise<void> | undefined;

  /**
   * @throws {ConfigError} naming `addressFrom` when the address is not loopback and there is no token
   * @throws {RangeError} when `maxStreams` is not a positive whole number
   */
  constructor(options: WebConsoleOptions) {
    refuseExposedWithoutToken(options.address, options.token, options.addressFrom);
    const max = options.maxStreams ?? 64;
    if (!(Number.isInteger(max) && max > 0)) throw new RangeError(`WebConsole: maxStreams must be a whole number > 0, got ${max}`);
    this.#o = options;
    this.#assets = options.assets ?? loadAssets();
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('clientError', (_err, socket) => socket.destroy());
    this.#server.keepAliveTimeout = 5000;
  }

  /** Where it listens, e.g. `http://127.0.0.1:9480`; set by start(). */
  get url(): string {
    if (!this.#url) throw new TransportError('web console is not started');
    return this.#url;
  }

  /**
   * Listen. Port 0 picks a free port.
   *
   * @throws {TransportError} naming the address when it cannot be bound
   */
  async start(): Promise<string> {
    const { host, port } = this.#o.address;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new TransportError(`web console: cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
      this.#server.once('error', onError);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#server.on('error', (err) => this.#o.log.error({ err }, 'HTTP server error'));
    const bound = this.#server.address() as AddressInfo;
    const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    this.#url = `http://${shown}:${bound.port}`;
    this.#policy = { hosts: allowedHosts(host), port: bound.port, token: this.#o.token?.token, cookie: `er_web_${bound.port}` };
    const exposed = !isLoopback(bound.address);
    this.#o.log.info({ url: this.#url, token: this.#o.token ? this.#o.token.source : 'none', ...(exposed ? { exposed: true } : {}) }, 'web console listening');
    return this.#url;
  }

  /** Stop listening, end the live streams, drop open connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      for (const res of this.#streams) res.end();
      this.#streams.clear();
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const policy = this.#policy;
    if (!policy || this.#closing) return void res.writeHead(503, SECURITY_HEADERS).end();
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const verdict = guardRequest({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, now: Date.now() }, policy);
    if (!verdict.ok) {
      // A missing token is a page load before logging in; a wrong one, or a guard refusal, is worth a warning.
      const level = verdict.status === 401 && !verdict.wrongToken ? 'debug' : 'warn';
      this.#o.log[level]({ path: url.pathname, status: verdict.status, reason: verdict.reason, from: req.socket.remoteAddress }, 'request refused');
      if (verdict.login) return redirect(res, `/login?next=${encodeURIComponent(url.pathname + url.search)}`);
      const headers: Record<string, string> =
        verdict.status === 401 ? { 'WWW-Authenticate': 'Bearer realm="event-reactor"' } : verdict.status === 405 ? { Allow: 'GET, HEAD, POST' } : {};
      return sendJson(res, verdict.status, { error: verdict.reason }, headers);
    }
    const session = policy.token !== undefined && verdict.authenticated;
    try {
      await this.#route(req, res, url, session);
    } catch (err) {
      const e = coerceError(err);
      const status = e instanceof HttpProblem ? e.status : e instanceof ReactorError ? 503 : 500;
      if (status >= 500)
        this.#o.log.error({ err: e, path: url.pathname }, status === 503 ? 'web console request failed: a store is unreachable' : 'web console request failed');
      if (res.headersSent) return void res.destroy();
      const message = status === 500 ? 'internal error (see the console log)' : e.message;
      if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/partials/') || req.method === 'POST') return sendJson(res, status, { error: message });
      sendHtml(
        res,
        status,
        page(
          { title: status === 404 ? 'Not found' : 'Cannot show this page', nav: 'none', logout: session },
          html`<p class="notice notice-error" role="alert">${message}</p>`,
        ),
      );
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse, url: URL, session: boolean): Promise<void> {
    const path = url.pathname;
    const get = req.method === 'GET' || req.method === 'HEAD';
    const view = (title: string, nav: NavPage, main: SafeHtml, data?: Record<string, string>): void =>
      sendHtml(res, 200, page({ title, nav, logout: session, ...(data ? { data } : {}) }, main));

    if (get && path === '/') {
      const [health, chart] = await Promise.all([this.#healthFragment(), Promise.resolve(this.#chartFragment())]);
      const live = this.#o.live;
      return view('Overview', 'overview', overviewView({ health, chart, live: live.since(live.last - 100), chartEveryMs: this.#o.rates().intervalMs }), {
        'live-last': String(live.last),
      });
    }
    if (get && path === '/partials/health') return sendHtml(res, 200, (await this.#healthFragment()).text);
    if (get && path === '/partials/chart') return sendHtml(res, 200, this.#chartFragment().text);
    if (get && path === '/events') {
      const search = parseSearch(url.searchParams, Date.now());
      const events = await this.#o.archive.listEvents(search.query);
      return view('Events', 'events', searchView(search, events, undefined));
    }
    if (get && path.startsWith('/events/')) {
      const id = segment(path, '/events/');
      const detail = await this.#o.archive.eventDetail(id);
      if (!detail) throw new HttpProblem(404, `No event with id "${id}" in the archive.`);
      const dead = detail.runs.some((r) => r.dead) ? (await this.#o.deadLetters.list()).filter((j) => j.eventId === id) : [];
      return view(`Event ${detail.event.key}`, 'events', eventView(detail, dead, Date.now()), { 'event-id': id });
    }
    if (get && path === '/dlq') return view('Dead letters', 'dlq', dlqView(await this.#o.deadLetters.list(), undefined));
    if (get && path === '/login') {
      if (this.#policy?.token === undefined) return redirect(res, '/');
      return view('Log in', 'none', loginView(safeNext(url.searchParams.get('next')), false));
    }
    if (req.method === 'POST' && path === '/login') return this.#login(req, res);
    if (req.method === 'POST' && path === '/logout') {
      return redirect(res, '/login', { 'Set-Cookie': `${this.#policy!.cookie}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` });
    }
    if (get && path.startsWith('/assets/')) return this.#asset(req, res, path.slice('/assets/'.length));
    if (get && path === '/healthz') return sendJson(res, 200, { console: 'web', alive: true });
    if (path.startsWith('/api/')) return this.#api(req, res, url);
    throw new HttpProblem(404, `Nothing at ${path}.`);
  }

  async #api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (req.method === 'GET' && path === '/api/stream') return this.#stream(req, res, url);
    if (get && path === '/api/status') return sendJson(res, 200, await this.#statusReport());
    if (get && path === '/api/rates') return sendJson(res, 200, this.#o.rates());
    if (get && path === '/api/events') {
      const search = parseSearch(url.searchParams, Date.now());
      if (search.problems.length > 0) throw new HttpProblem(400, search.problems.join('; '));
      return sendJson(res, 200, await this.#o.archive.listEvents(search.query));
    }
    if (get && path.startsWith('/api/events/')) {
      const id = segment(path, '/api/events/');
      const detail = await this.#o.archive.eventDetail(id);
      if (!detail) throw new HttpProblem(404, `no event with id "${id}"`);
      return sendJson(res, 200, detail);
    }
    if (get && path === '/api/dlq') return sendJson(res, 200, await this.#o.deadLetters.list());
    if (req.method === 'POST') {
      const dl = this.#o.deadLetters;
      if (path === '/api/dlq/retry-all') return this.#done(res, 'retried', await refusedAs409(dl.retryAll()), 'all');
      if (path === '/api/dlq/purge-all') return this.#done(res, 'purged', await dl.purgeAll(), 'all');
      const m = /^\/api\/dlq\/([^/]+)\/(retry|purge)$/.exec(path);
      if (m) {
        const id = decode(m[1]!);
        const found = m[2] === 'retry' ? await refusedAs409(dl.retry(id)) : await dl.purge(id);
        if (!found) throw new HttpProblem(404, `no dead job with id "${id}" (already retried or purged?)`);
        return this.#done(res, m[2] === 'retry' ? 'retried' : 'purged', 1, id);
      }
    }
    throw new HttpProblem(get || req.method === 'POST' ? 404 : 405, `no API at ${req.method} ${path}`);
  }

  #done(res: ServerResponse, verb: 'retried' | 'purged', n: number, job: string): void {
    this.#o.log.info({ action: verb, jobs: n, job }, 'dead letters changed from the web console');
    sendJson(res, 200, { [verb]: n });
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = this.#policy?.token;
    if (token === undefined) return redirect(res, '/');
    const form = new URLSearchParams(await readBody(req));
    const next = safeNext(form.get('next'));
    if (sameSecret(form.get('token') ?? '', token)) {
      const cookie = `${this.#policy!.cookie}=${sessionValue(token, Date.now())}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MS / 1000}`;
      this.#o.log.info({ from: req.socket.remoteAddress }, 'web console login');
      return redirect(res, next, { 'Set-Cookie': cookie });
    }
    this.#o.log.warn({ from: req.socket.remoteAddress }, 'web console login refused: wrong token');
    await new Promise((r) => setTimeout(r, LOGIN_FAILURE_DELAY_MS));
    sendHtml(res, 401, page({ title: 'Log in', nav: 'none', logout: false }, loginView(next, true)));
  }

  #asset(req: IncomingMessage, res: ServerResponse, name: string): void {
    const asset = this.#assets.get(name);
    if (!asset) throw new HttpProblem(404, `no asset ${name}`);
    const headers = { ...SECURITY_HEADERS, 'Content-Type': asset.type, ETag: asset.etag, 'Cache-Control': 'no-cache' };
    if (req.headers['if-none-match'] === asset.etag) return void res.writeHead(304, headers).end();
    res.writeHead(200, headers).end(asset.body);
  }

  /**
   * Server-sent events: each event as `id: <n>`, `event: event`, `data: <LiveEvent JSON>`.
   * A client resumes after `Last-Event-ID` (EventSource sends it on reconnect) or
   * `?after=<n>` (the page passes the last row it rendered), from the events kept.
   */
  #stream(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (this.#streams.size >= (this.#o.maxStreams ?? 64)) throw new HttpProblem(503, 'too many live streams open; try again later');
    const live = this.#o.live;
    const resumeFrom = Number(req.headers['last-event-id'] ?? url.searchParams.get('after') ?? live.last);
    // Numbers restart with the console: a client from before a restart gets what is kept.
    const after = Number.isInteger(resumeFrom) && resumeFrom >= 0 && resumeFrom <= live.last ? resumeFrom : 0;
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.write(`retry: 2000\n: following the router's stream\n\n`);
    this.#streams.add(res);
    const send = (e: LiveEvent): void => {
      if (res.writableLength > STREAM_BACKLOG_BYTES) {
        this.#o.log.warn({ from: req.socket.remoteAddress }, 'live stream client too slow; disconnected');
        res.destroy();
        return;
      }
      res.write(`id: ${e.n}\nevent: event\ndata: ${JSON.stringify(e)}\n\n`);
    };
    for (const e of live.since(after)) send(e);
    const unsubscribe = live.subscribe(send);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    res.once('close', () => {
      unsubscribe();
      clearInterval(heartbeat);
      this.#streams.delete(res);
    });
  }

  #statusReport(): Promise<StatusReport> {
    const now = Date.now();
    if (!this.#status || now - this.#status.at > STATUS_TTL_MS) {
      const report = this.#o.status();
      report.catch(() => (this.#status = undefined));
      this.#status = { at: now, report };
    }
    return this.#status.report;
  }

  async #healthFragment(): Promise<SafeHtml> {
    return healthView(await this.#statusReport(), new Date());
  }

  #chartFragment(): SafeHtml {
    return chartView(this.#o.rates(), Date.now());
  }
}

/** The path after `prefix`, URL-decoded: ids may hold any character, `/` included. */
function segment(path: string, prefix: string): string {
  const id = decode(path.slice(prefix.length));
  if (id === '') throw new HttpProblem(404, 'no id given');
  return id;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpProblem(400, 'bad percent-encoding in the path');
  }
}

/** Where to go after logging in: a path on this console only (no `//host` or `/\host`). */
function safeNext(next: string | null): string {
  return next !== null && /^\/(?![/\\])[^\s]*$/.test(next) ? next : '/';
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) {
    body += (chunk as Buffer).toString('utf8');
    if (body.length > MAX_BODY) throw new HttpProblem(413, 'request body too large');
  }
  return body;
}

function sendHtml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}

function redirect(res: ServerResponse, location: string, headers: Record<string, string> = {}): void {
  res.writeHead(303, { ...SECURITY_HEADERS, Location: location, 'Cache-Control': 'no-store', ...headers });
  res.end();
}

/** A dead job whose handler entry is gone is refused with 409 and the reason, not a 500. */
async function refusedAs409<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof UnknownHandlerError) throw new HttpProblem(409, err.message);
    throw err;
  }
}
