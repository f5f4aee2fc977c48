import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TransportError, coerceError } from '../errors.js';
import type { HttpInputSettings } from '../config/inputs.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { RouterUnavailableError } from './forwarder.js';
import { refusalReason, type Input, type InputContext } from './input.js';
import { readSecretFile } from '../security/secret-file.js';

/** Seconds a client is told to wait (`Retry-After`) while the router is not answering. */
const RETRY_AFTER_S = 5;

interface Hook {
  secret?: Buffer;
  eventType?: string;
  eventTypeHeader?: string;
  idHeader?: string;
}

class HttpRefusal extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/**
 * HTTPInput: `POST /events` takes an event (JSON object with `event_type`; bearer token
 * from `token_file`), `POST /hooks/NAME` takes any JSON body as the payload of an event
 * (authenticated by the hook's HMAC-SHA256 signature, `X-Hub-Signature-256: sha256=<hex>`
 * over the raw body as GitHub sends it, compared in constant time, or by the token).
 *
 * Replies, always JSON: 202 `{"id", "event_type", "namespace", "seq"}` once the router
 * has replied (the event is accepted); 400 (not JSON, not an event, refused by the
 * router: `{"error": {"code", "message"}}` with the router's code), 401 (no credentials),
 * 403 (wrong token or signature), 404 (unknown path or hook), 405, 408 (body not sent in
 * time), 413 (body over `max_body_bytes`), 415 (not `application/json`), 503 with
 * `Retry-After` (the router did not answer within `router_wait`, or `max_in_flight`
 * requests are being forwarded). A 503 may hide an event the router did accept after all:
 * a client that retries with the same `id` is archived once.
 */
export class HttpInput implements Input {
  readonly name: string;
  readonly #ctx: InputContext;
  readonly #config: HttpInputSettings;
  readonly #at: string;
  readonly #hooks = new Map<string, Hook>();
  #token: Buffer | undefined;
  #server: Server | undefined;
  #url: string | undefined;
  #inflight = 0;
  readonly #requests = new Set<Promise<void>>();
  #closed: Promise<void> | undefined;

  constructor(ctx: InputContext, config: HttpInputSettings, at: string) {
    this.name = ctx.name;
    this.#ctx = ctx;
    this.#config = config;
    this.#at = at;
  }

  /** Where it listens, e.g. `http://127.0.0.1:8088`; set by start(). */
  get url(): string {
    if (!this.#url) throw new TransportError('HTTP input is not started');
    return this.#url;
  }

  /** @throws {ConfigError} for a secret file others can read; {TransportError} when the address cannot be bound */
  async start(): Promise<void> {
    const c = this.#config;
    if (c.token_file !== undefined) this.#token = readSecretFile(c.token_file, `${this.#at}.config.token_file`);
    for (const [name, h] of Object.entries(c.hooks)) {
      const hook: Hook = {};
      if (h.hmac_secret_file !== undefined) hook.secret = readSecretFile(h.hmac_secret_file, `${this.#at}.config.hooks.${name}.hmac_secret_file`);
      if (h.event_type !== undefined) hook.eventType = h.event_type;
      if (h.event_type_header !== undefined) hook.eventTypeHeader = h.event_type_header.toLowerCase();
      if (h.id_header !== undefined) hook.idHeader = h.id_header.toLowerCase();
      this.#hooks.set(name, hook);
    }
    const server = createServer({ requestTimeout: c.request_timeout * 1000, headersTimeout: Math.min(c.request_timeout, 60) * 1000 }, (req, res) => {
      const work = this.#handle(req, res).finally(() => this.#requests.delete(work));
      this.#requests.add(work);
    });
    server.keepAliveTimeout = 5000;
    server.on('clientError', (_err, socket) => socket.destroy());
    const { host, port } = c.address;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new TransportError(`${this.name}: cannot listen on ${host}:${port}: ${err.message}`, { cause: err }));
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.#ctx.log.error({ err }, 'HTTP server error'));
    this.#server = server;
    const bound = server.address() as AddressInfo;
    this.#url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    this.#ctx.log.info({ url: this.#url, hooks: [...this.#hooks.keys()], token: this.#token !== undefined }, 'listening');
  }

  ready(): void {
    if (!this.#server?.listening) throw new TransportError('not listening');
    if (this.#ctx.pipe.routerDown) throw new TransportError('the router is not answering: requests get 503');
  }

  /** Stop listening, let requests being forwarded finish (at most `router_wait`), then drop the connections. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const server = this.#server;
      if (!server) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await settlesWithin(Promise.allSettled([...this.#requests]), this.#config.router_wait * 1000);
      server.closeAllConnections();
      await closed;
    })();
    return this.#closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const hookName = path.startsWith('/hooks/') ? decodeURIComponent(path.slice('/hooks/'.length)) : undefined;
      if (path !== '/events' && hookName === undefined) throw new HttpRefusal(404, 'not_found', 'no such path: POST /events or /hooks/NAME');
      if (req.method !== 'POST') throw new HttpRefusal(405, 'method_not_allowed', 'use POST', { Allow: 'POST' });
      const hook = hookName === undefined ? undefined : this.#hooks.get(hookName);
      if (hookName !== undefined && !hook) throw new HttpRefusal(404, 'unknown_hook', `no hook named "${hookName}"`);
      const bearer = this.#bearer(req);
      // What can be decided before the body is read, is.
      if (!hook?.secret && this.#token) {
        if (bearer === undefined) throw unauthorized();
        if (!bearer) throw new HttpRefusal(403, 'forbidden', 'wrong token');
      }
      if (!isJson(req.headers['content-type'])) throw new HttpRefusal(415, 'unsupported_media_type', 'send Content-Type: application/json');
      const declared = Number(req.headers['content-length']);
      if (declared > this.#config.max_body_bytes) throw tooLarge(this.#config.max_body_bytes);
      if (this.#inflight >= this.#config.max_in_flight) throw new HttpRefusal(503, 'busy', 'too many requests being forwarded', { 'Retry-After': '1' });
      this.#ctx.pipe.received();
      const body = await readBody(req, this.#config.max_body_bytes);
      if (hook?.secret) this.#checkSignature(req, body, hook.secret, bearer);
      let value: unknown;
      try {
        value = JSON.parse(body.toString('utf8'));
      } catch (err) {
        throw new HttpRefusal(400, 'invalid_json', `body is not JSON: ${(err as Error).message}`);
      }
      const event = hook && hookName !== undefined ? this.#hookEvent(hookName, hook, req, value) : (value as Record<string, unknown>);
      if (hook === undefined && (value === null || typeof value !== 'object' || Array.isArray(value)))
        throw new HttpRefusal(400, 'not_object', 'POST /events takes a JSON object with "event_type"; use a hook for any other JSON');
      this.#inflight++;
      try {
        const published = await this.#ctx.pipe.forward(event, { deadlineMs: this.#config.router_wait * 1000 });
        send(res, 202, { id: published.id, event_type: published.event_type, namespace: published.namespace, seq: published.seq });
      } finally {
        this.#inflight--;
      }
    } catch (err) {
      this.#refuse(res, err);
    }
  }

  #refuse(res: ServerResponse, err: unknown): void {
    let r: HttpRefusal;
    const reason = refusalReason(err);
    if (err instanceof HttpRefusal) {
      r = err;
      if (r.status !== 404 && r.status !== 405) this.#ctx.pipe.refused(r.code, r.message);
    } else if (reason !== undefined) r = new HttpRefusal(400, reason, (err as Error).message);
    else if (err instanceof RouterUnavailableError) r = new HttpRefusal(503, 'router_unavailable', err.message, { 'Retry-After': String(RETRY_AFTER_S) });
    else {
      this.#ctx.log.error({ err: coerceError(err) }, 'request failed');
      r = new HttpRefusal(500, 'internal', 'internal error');
    }
    if (res.headersSent) return void res.destroy();
    send(res, r.status, { error: { code: r.code, message: r.message } }, r.headers, r.status === 413 || r.status === 408);
  }

  /** The bearer token: undefined when none was sent, false when wrong, true when right. */
  #bearer(req: IncomingMessage): boolean | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return undefined;
    return this.#token !== undefined && safeEqual(Buffer.from(m[1]!), this.#token);
  }

  #checkSignature(req: IncomingMessage, body: Buffer, secret: Buffer, bearer: boolean | undefined): void {
    const header = req.headers['x-hub-signature-256'];
    const sig = Array.isArray(header) ? header[0] : header;
    if (sig === undefined) {
      if (bearer === true) return;
      if (bearer === false) throw new HttpRefusal(403, 'forbidden', 'wrong token');
      throw unauthorized('send X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body> (or a bearer token)');
    }
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
    if (!safeEqual(Buffer.from(sig), expected)) throw new HttpRefusal(403, 'bad_signature', 'X-Hub-Signature-256 does not match the body');
  }

  #hookEvent(name: string, hook: Hook, req: IncomingMessage, payload: unknown): Record<string, unknown> {
    let eventType = hook.eventType ?? name;
    if (hook.eventTypeHeader !== undefined) {
      const v = req.headers[hook.eventTypeHeader];
      const value = Array.isArray(v) ? v[0] : v;
      if (!value) throw new HttpRefusal(400, 'missing_event_type', `header ${hook.eventTypeHeader} is missing`);
      eventType = `${name}.${value}`;
    }
    const event: Record<string, unknown> = { event_type: eventType, payload, hook: name };
    if (hook.idHeader !== undefined) {
      const v = req.headers[hook.idHeader];
      const value = Array.isArray(v) ? v[0] : v;
      if (value) event['id'] = `${name}:${value}`.slice(0, 128);
    }
    return event;
  }
}

function unauthorized(message = 'send Authorization: Bearer <token>'): HttpRefusal {
  return new HttpRefusal(401, 'unauthorized', message, { 'WWW-Authenticate': 'Bearer' });
}

function tooLarge(limit: number): HttpRefusal {
  return new HttpRefusal(413, 'too_large', `body is over the limit of ${limit} bytes`);
}

function isJson(type: string | undefined): boolean {
  const t = (type ?? '').split(';')[0]!.trim().toLowerCase();
  return t === 'application/json' || /^application\/[\w.+-]+\+json$/.test(t);
}

/** Constant-time comparison (lengths may differ: that alone refuses, and a length is no secret). */
function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(tooLarge(limit));
        req.pause();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', (err) => reject(err));
    req.on('aborted', () => reject(new HttpRefusal(408, 'request_timeout', 'the request body was not received in time')));
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, close = false): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...(close ? { Connection: 'close' } : {}), ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}
