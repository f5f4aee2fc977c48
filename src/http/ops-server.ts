import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import { TransportError, coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { isLoopback, type ListenAddress } from './listen-address.js';

/** One thing a daemon needs to do its work (a socket bound, a store reachable). */
export interface ReadinessCheck {
  /** What it is, as `/readyz` names it: `mongodb`, `redis`, `router`, `sockets`. */
  name: string;
  /** Resolves when ready; rejects (or throws) saying why not. */
  check(): Promise<void> | void;
}

/** Options for {@link OpsServer}. */
export interface OpsServerOptions {
  /** The daemon part it serves: `router`, `sub`, `worker`. */
  daemon: string;
  address: ListenAddress;
  registry: Registry;
  checks: readonly ReadinessCheck[];
  /** False once a receive loop of the daemon has stopped for good: `/healthz` then answers 503. */
  alive?: () => boolean;
  /** More to say in `/healthz`, e.g. `{ handlers: <table hash> }`. */
  info?: () => Record<string, unknown>;
  log: Logger;
  /** Longest a readiness check may take, in ms; default 1000. */
  checkTimeoutMs?: number;
}

/** What `/readyz` answers. */
export interface Readiness {
  daemon: string;
  ready: boolean;
  checks: Record<string, { ok: boolean; error?: string; ms: number }>;
  /** The checks that failed, with why. */
  missing: { name: string; error: string }[];
}

/**
 * A daemon's HTTP endpoints for operators and monitoring:
 * - `GET /metrics`: every counter, gauge and histogram of the daemon, Prometheus text format;
 * - `GET /healthz`: 200 while the process runs its loops (503 once one has died);
 * - `GET /readyz`: 200 only while it reaches what it needs, else 503 with a JSON body
 *   naming what is missing (each check bounded by `checkTimeoutMs`).
 * Loopback by default; a non-loopback address is allowed (Prometheus scrapes from
 * elsewhere) and logged as such. Anything else is a 404; anything but GET/HEAD a 405.
 */
export class OpsServer {
  readonly #options: OpsServerOptions;
  readonly #server: Server;
  #url: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: OpsServerOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    const readiness = (): Promise<Readiness> => this.readiness();
    new Gauge({
      name: 'daemon_ready',
      help: 'The daemon reaches what it needs (1) or not (0), as /readyz says, checked at each scrape',
      labelNames: ['daemon'],
      registers: [options.registry],
      async collect() {
        this.set({ daemon: options.daemon }, (await readiness()).ready ? 1 : 0);
      },
    });
    this.#server.on('clientError', (_err, socket) => socket.destroy());
    // Keep-alive sockets of scrapers must not hold a shutdown.
    this.#server.keepAliveTimeout = 5000;
  }

  /** Where it listens, e.g. `http://127.0.0.1:9470`; set by start(). */
  get url(): string {
    if (!this.#url) throw new TransportError('ops server is not started');
    return this.#url;
  }

  /**
   * Listen. Port 0 picks a free port; the URL is logged.
   *
   * @throws {TransportError} naming the address when it cannot be bound
   */
  async start(): Promise<string> {
    const { host, port } = this.#options.address;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(new TransportError(`cannot listen for HTTP (${this.#options.daemon} metrics and health) on ${host}:${port}: ${err.message}`, { cause: err }));
      this.#server.once('error', onError);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#server.on('error', (err) => this.#options.log.error({ err }, 'HTTP server error'));
    const bound = this.#server.address() as AddressInfo;
    const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    this.#url = `http://${shown}:${bound.port}`;
    const exposed = !isLoopback(bound.address);
    this.#options.log.info(
      { url: this.#url, endpoints: ['/metrics', '/healthz', '/readyz'], ...(exposed ? { exposed: true } : {}) },
      'serving metrics and health over HTTP',
    );
    return this.#url;
  }

  /** Run every check now (each bounded), as `/readyz` does. */
  async readiness(): Promise<Readiness> {
    const timeoutMs = this.#options.checkTimeoutMs ?? 1000;
    const results = await Promise.all(
      this.#options.checks.map(async (c) => {
        const started = performance.now();
        const run = Promise.resolve().then(() => c.check());
        let error: string | undefined;
        if (!(await settlesWithin(run, timeoutMs))) error = `no answer within ${timeoutMs} ms`;
        else await run.catch((err: unknown) => (error = coerceError(err).message));
        return { name: c.name, ok: error === undefined, ms: Math.round(performance.now() - started), ...(error === undefined ? {} : { error }) };
      }),
    );
    const missing = results.filter((r) => !r.ok).map((r) => ({ name: r.name, error: r.error ?? 'not ready' }));
    return {
      daemon: this.#options.daemon,
      ready: missing.length === 0,
      checks: Object.fromEntries(results.map(({ name, ...rest }) => [name, rest])),
      missing,
    };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET and HEAD\n', { Allow: 'GET, HEAD' });
      if (path === '/metrics') return send(res, 200, this.#options.registry.contentType, await this.#options.registry.metrics());
      if (path === '/healthz') {
        const alive = this.#options.alive?.() ?? true;
        return send(
          res,
          alive ? 200 : 503,
          'application/json',
          JSON.stringify({ daemon: this.#options.daemon, alive, uptime_s: Math.round(process.uptime()), pid: process.pid, ...this.#options.info?.() }),
        );
      }
      if (path === '/readyz') {
        const r = await this.readiness();
        return send(res, r.ready ? 200 : 503, 'application/json', JSON.stringify(r));
      }
      return send(res, 404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
    } catch (err) {
      this.#options.log.error({ err: coerceError(err), url: req.url }, 'HTTP request failed');
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    }
  }

  /** Stop listening and drop open connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}
