import type { ReactorEvent } from '../event/event.js';
import { parseReply } from './reply.js';
import { ReqSocket, type ReqSocketOptions } from './req-socket.js';

export type RouterClientOptions = Omit<ReqSocketOptions, 'peer'>;

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
