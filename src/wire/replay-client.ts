import { ReqSocket } from './req-socket.js';
import { parseReply } from './reply.js';
import type { CurveClientKeys } from './curve.js';
import type { ReactorEvent } from '../event/event.js';
import type { ReplayReply } from './replay-protocol.js';

/** Asks the router's replay socket for events after a position. */
export class ReplayClient {
  readonly #sock: ReqSocket;

  constructor(uri: string, timeoutMs = 5000, curve?: CurveClientKeys) {
    this.#sock = new ReqSocket({ uri, timeoutMs, peer: 'the router replay socket', curve });
  }

  async since(epoch: number, seq: number, limit = 1000): Promise<ReplayReply<ReactorEvent>> {
    return parseReply<ReplayReply<ReactorEvent>>(await this.#sock.request(JSON.stringify({ since: { epoch, seq }, limit })));
  }

  async status(): Promise<ReplayReply<never>> {
    return parseReply<ReplayReply<never>>(await this.#sock.request('{"status":true}'));
  }

  close(): void {
    this.#sock.close();
  }
}
