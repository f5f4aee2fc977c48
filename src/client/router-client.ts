import { ReactorError, TransportError } from '../errors.js';
import type { ReactorEvent } from '../event.js';
import { ReqSocket, type ReqSocketOptions } from './req-socket.js';

export type RouterClientOptions = Omit<ReqSocketOptions, 'peer'>;

/** The router refused the event; `reason` is the wire error code (`invalid_json`, ...). */
export class RouterRefusedError extends ReactorError {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super('ERR_EVENT_INVALID', message);
    this.reason = reason;
  }
}

/**
 * Client for the router's REP socket. A retry after a timeout sends the same text, so
 * an event with an `id` is never accepted twice under two ids.
 */
export class RouterClient {
  readonly #sock: ReqSocket;

  constructor(options: RouterClientOptions) {
    this.#sock = new ReqSocket({ ...options, peer: 'the router' });
  }

  /** Send one event (an object, or JSON text sent as it is); resolves with the event as published. */
  async send(event: object | string): Promise<ReactorEvent> {
    const text = typeof event === 'string' ? event : JSON.stringify(event);
    return parseReply(await this.#sock.request(text));
  }

  close(): void {
    this.#sock.close();
  }
}

/** Parse a router reply; `{"error": ...}` becomes a RouterRefusedError. */
export function parseReply<T = ReactorEvent>(text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TransportError(`router replied with something that is not JSON: ${text.slice(0, 200)}`, { cause: err });
  }
  const v = value as { error?: { code?: unknown; message?: unknown } };
  if (v && typeof v === 'object' && v.error && typeof v.error === 'object') {
    throw new RouterRefusedError(String(v.error.code ?? 'unknown'), String(v.error.message ?? 'refused'));
  }
  return value as T;
}
