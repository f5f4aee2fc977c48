import type { Socket } from 'zeromq';
import { coerceError } from '../errors.js';

type Frames = (string | Buffer)[];

/**
 * zeromq.js allows one send in progress per socket; the router publishes from several
 * receive loops. Sends are queued and written in the order they were handed in, which
 * keeps the PUB stream in sequence-number order.
 */
export class SerialSender {
  readonly #socket: Pick<Socket & { send(m: Frames): Promise<void> }, 'send'>;
  readonly #queue: { frames: Frames; done?: (err?: Error) => void }[] = [];
  #draining = false;
  #idle: (() => void)[] = [];
  readonly #onError: (err: Error) => void;

  constructor(socket: { send(m: Frames): Promise<void> }, onError: (err: Error) => void) {
    this.#socket = socket;
    this.#onError = onError;
  }

  /** Queue frames; the returned promise settles once they are handed to ZeroMQ. */
  send(frames: Frames): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ frames, done: (err) => (err ? reject(err) : resolve()) });
      this.#drain();
    });
  }

  /** Queue frames without waiting (failures go to onError). */
  post(frames: Frames): void {
    this.#queue.push({ frames });
    this.#drain();
  }

  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves when everything queued so far has been handed to ZeroMQ. */
  flushed(): Promise<void> {
    if (!this.#draining && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    void this.#run();
  }

  async #run(): Promise<void> {
    let item = this.#queue.shift();
    while (item) {
      try {
        await this.#socket.send(item.frames);
        item.done?.();
      } catch (err) {
        const e = coerceError(err);
        if (item.done) item.done(e);
        else this.#onError(e);
      }
      item = this.#queue.shift();
    }
    this.#draining = false;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}
