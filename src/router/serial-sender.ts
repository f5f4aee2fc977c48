import type { Socket } from 'zeromq';
import { coerceError, TransportError } from '../errors.js';

type Frames = (string | Buffer)[];

/** The part of a zeromq.js socket the sender uses. */
export type SendSocket = Pick<Socket & { send(m: Frames): Promise<void> }, 'send'> & { readonly sendTimeout: number };

/**
 * Publishes for the router's receive loops, in the order they hand events in, which keeps
 * the PUB stream in sequence-number order.
 *
 * zeromq.js allows one send in progress per socket. The socket must have `sendTimeout`
 * 0: zeromq.js then performs every send inside the `send()` call (zmq_msg_send with
 * ZMQ_DONTWAIT) and returns a settled promise, so no send is ever in progress and the
 * order of the calls is the order on the wire. A PUB socket never blocks (at its
 * high-water mark ZeroMQ drops, whatever the timeout), so this changes nothing but the
 * cost: no queue, no promise chain, no yield to the event loop every 512 sends.
 * With any other timeout zeromq.js would defer a send now and then and reject the next
 * one with EBUSY, so the constructor refuses such a socket.
 */
export class SerialSender {
  readonly #socket: SendSocket;
  readonly #onError: (err: Error) => void;
  /** Sends whose promise has not settled yet (with `sendTimeout` 0, until the next microtask). */
  #unsettled = 0;
  #idle: (() => void)[] = [];
  readonly #settled = (): void => {
    if (--this.#unsettled === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  };
  readonly #failed = (err: unknown): void => {
    this.#settled();
    this.#onError(coerceError(err));
  };

  /** @throws {TransportError} when the socket's `sendTimeout` is not 0 */
  constructor(socket: SendSocket, onError: (err: Error) => void) {
    if (socket.sendTimeout !== 0) throw new TransportError(`SerialSender needs a socket with sendTimeout 0, got ${socket.sendTimeout}`);
    this.#socket = socket;
    this.#onError = onError;
  }

  /** Hand frames to ZeroMQ now; the returned promise settles once it has taken them (or failed). */
  send(frames: Frames): Promise<void> {
    try {
      return this.#socket.send(frames);
    } catch (err) {
      // zeromq.js throws rather than rejects for some misuse, such as a closed socket.
      return Promise.reject(coerceError(err));
    }
  }

  /** Hand frames to ZeroMQ now without waiting (failures go to onError). */
  post(frames: Frames): void {
    let sent: Promise<void>;
    try {
      sent = this.#socket.send(frames);
    } catch (err) {
      this.#onError(coerceError(err));
      return;
    }
    this.#unsettled++;
    sent.then(this.#settled, this.#failed);
  }

  /** Resolves when every send posted so far has been handed to ZeroMQ (or has failed). */
  flushed(): Promise<void> {
    if (this.#unsettled === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }
}
