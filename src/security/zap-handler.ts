import * as zmq from 'zeromq';
import type { Counter } from 'prom-client';
import { coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { z85Encode } from './z85.js';

/** Where libzmq sends ZAP requests (rfc.zeromq.org/spec/27), in the sockets' own context. */
const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

/** The part of the client table the ZAP handler needs. */
export interface ClientDirectory {
  /** The authorized client with this public key (Z85), or undefined. */
  nameOf(publicKey: string): string | undefined;
}

/** A client's limits, from `security.clients`. */
export interface ClientPolicy {
  /** Namespaces its events may carry; undefined = any. */
  namespaces?: readonly string[];
}

/**
 * Which namespaces a socket's events may carry (its ZAP domain's scope). A client
 * restricted to some namespaces may only connect to a socket whose scope lies within
 * them: zeromq.js cannot tell which connection a message came from (it does not expose
 * libzmq's per-message `User-Id`, zeromq/zeromq.js#327), so the socket is the boundary.
 */
export type SocketScopes = ReadonlyMap<string, readonly string[] | undefined>;

/** Options for {@link ZapHandler}. */
export interface ZapHandlerOptions {
  clients: ClientDirectory;
  /** `security.clients`: limits by client name. */
  policies: ReadonlyMap<string, ClientPolicy>;
  /** Scope of each socket, by ZAP domain (the socket's name); a missing domain is refused. */
  scopes: SocketScopes;
  /** `router_auth_failures_total{socket}`. */
  failures: Counter<'socket'>;
  log: Logger;
  /** At most one log line per socket and reason per this many ms; default 5000. */
  logIntervalMs?: number;
}

/** Why a client was refused, as logged and counted. */
export type AuthRefusal = 'unknown_key' | 'not_curve' | 'unknown_socket' | 'namespace_scope';

/** The verdict on one connection attempt. Pure: exposed for tests. */
export function authorize(
  request: { domain: string; mechanism: string; publicKey: string | undefined },
  options: Pick<ZapHandlerOptions, 'clients' | 'policies' | 'scopes'>,
): { ok: true; client: string } | { ok: false; reason: AuthRefusal; text: string } {
  if (!options.scopes.has(request.domain)) return { ok: false, reason: 'unknown_socket', text: `no socket named "${request.domain}"` };
  if (request.mechanism !== 'CURVE' || request.publicKey === undefined) return { ok: false, reason: 'not_curve', text: 'CURVE is required' };
  const client = options.clients.nameOf(request.publicKey);
  if (client === undefined) return { ok: false, reason: 'unknown_key', text: 'client key not authorized' };
  const allowed = options.policies.get(client)?.namespaces;
  if (allowed) {
    const scope = options.scopes.get(request.domain);
    if (scope === undefined || scope.some((ns) => !allowed.includes(ns))) {
      return {
        ok: false,
        reason: 'namespace_scope',
        text: `client ${client} may send only namespaces ${allowed.join(', ')}; this socket takes ${scope ? scope.join(', ') : 'any namespace'}`,
      };
    }
  }
  return { ok: true, client };
}

/**
 * The router's ZAP handler: libzmq asks it about every connection to a CURVE server socket
 * of the process, and it admits only authorized client keys, within their namespace scope.
 * Each refusal is counted per socket and logged with the peer's address (rate-limited).
 * Must be started before the sockets it guards bind, and there is one per process.
 */
export class ZapHandler {
  readonly #options: ZapHandlerOptions;
  readonly #sock = new zmq.Reply({ linger: 0 });
  readonly #lastLog = new Map<string, { at: number; suppressed: number }>();
  #loop: Promise<void> | undefined;

  constructor(options: ZapHandlerOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    await this.#sock.bind(ZAP_ENDPOINT);
    this.#loop = this.#serve();
  }

  async #serve(): Promise<void> {
    try {
      for await (const frames of this.#sock) {
        const [version, requestId, domain, address, , mechanism, credential] = frames;
        const request = {
          domain: domain?.toString('utf8') ?? '',
          mechanism: mechanism?.toString('utf8') ?? '',
          publicKey: credential?.length === 32 ? z85Encode(credential) : undefined,
        };
        const verdict = authorize(request, this.#options);
        if (!verdict.ok) this.#refused(request.domain, address?.toString('utf8') ?? '', verdict.reason, verdict.text);
        await this.#sock.send([
          version ?? '1.0',
          requestId ?? '',
          verdict.ok ? '200' : '400',
          verdict.ok ? 'OK' : verdict.text,
          verdict.ok ? verdict.client : '',
          '',
        ]);
      }
    } catch (err) {
      if (!this.#sock.closed) this.#options.log.error({ err: coerceError(err) }, 'ZAP handler failed');
    }
  }

  #refused(socket: string, peer: string, reason: AuthRefusal, text: string): void {
    this.#options.failures.inc({ socket });
    const key = `${socket}\0${reason}`;
    const now = Date.now();
    const prev = this.#lastLog.get(key);
    if (prev && now - prev.at < (this.#options.logIntervalMs ?? 5000)) {
      prev.suppressed++;
      return;
    }
    this.#lastLog.set(key, { at: now, suppressed: 0 });
    this.#options.log.warn({ socket, peer, reason, detail: text, suppressed: prev?.suppressed ?? 0 }, 'connection refused');
  }

  /** Stop answering; call after the guarded sockets are closed. Idempotent. */
  async close(): Promise<void> {
    if (!this.#sock.closed) this.#sock.close();
    await this.#loop;
  }
}
