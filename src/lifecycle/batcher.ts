import { retryDelay } from './retry-delay.js';

/**
 * Collects items and hands them to `flush` in batches: when `maxItems` are waiting or
 * `maxDelayMs` after the first one arrived. One flush runs at a time; items that arrive
 * meanwhile form the next batch, flushed as soon as the current one is done (group
 * commit: the slower the store, the larger the batches). A failed flush is retried with backoff, holding the
 * batch, so nothing accepted is dropped.
 */
export interface BatcherOptions<T> {
  maxItems: number;
  maxDelayMs: number;
  flush: (items: T[]) => Promise<void>;
  /** Called after each failed attempt; returns nothing, the batch is retried. */
  onError: (err: unknown, items: number, attempt: number) => void;
  /** Longest wait between retries; default 10000 ms. */
  maxBackoffMs?: number;
}

export class Batcher<T> {
  readonly #options: BatcherOptions<T>;
  #items: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopping = false;

  constructor(options: BatcherOptions<T>) {
    this.#options = options;
  }

  /** Items waiting plus the batch being flushed. */
  get buffered(): number {
    return this.#items.length + this.#inFlight;
  }

  #inFlight = 0;

  add(item: T): void {
    this.#items.push(item);
    if (this.#items.length >= this.#options.maxItems) this.#kick();
    else this.#timer ??= setTimeout(() => this.#kick(), this.#options.maxDelayMs);
  }

  /** Resolves once the current flush (if any) is done: for backpressure. */
  async settled(): Promise<void> {
    await this.#running;
  }

  /** Flush everything now and wait for it; retries keep going until it succeeds. */
  async drain(): Promise<void> {
    this.#stopping = true;
    while (this.#items.length > 0 || this.#running) {
      this.#kick();
      await this.#running;
    }
  }

  #kick(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#running || this.#items.length === 0) return;
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      // Group commit: what arrived during the flush has waited long enough already.
      if (this.#items.length > 0 && !this.#stopping) this.#kick();
    });
  }

  async #loop(): Promise<void> {
    const batch = this.#items.splice(0, this.#options.maxItems);
    this.#inFlight = batch.length;
    let attempt = 0;
    for (;;) {
      try {
        await this.#options.flush(batch);
        this.#inFlight = 0;
        return;
      } catch (err) {
        attempt++;
        this.#options.onError(err, batch.length, attempt);
        await new Promise((r) => setTimeout(r, retryDelay(attempt, this.#options.maxBackoffMs)));
      }
    }
  }
}
