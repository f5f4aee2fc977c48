import { retryDelay } from './retry-delay.js';

/**
 * Collects items and hands them to `flush` in batches: when `maxItems` are waiting or
 * `maxDelayMs` after the first one arrived. One flush runs at a time; items that arrive
 * meanwhile form the next batch, flushed as soon as the current one is done (group
 * commit: the slower the store, the larger the batches). A failed flush is retried with backoff, holding the
 * batch, so nothing accepted is dropped.
 *
 * With `after`, each batch has a second step, run once its `flush` has succeeded: batches
 * go through `after` one at a time and in the order they were flushed, and the next
 * batch's `flush` runs meanwhile (a two-stage pipeline: while one batch is in its second
 * store, the next is in its first). A failed `after` is retried the same way, on its own:
 * the batch is not flushed again. At most one batch is in `after`; the batch behind it
 * waits in its `flush` step once done, and new items gather behind that.
 */
export interface BatcherOptions<T> {
  maxItems: number;
  maxDelayMs: number;
  flush: (items: T[]) => Promise<void>;
  /** Second step of each batch, after its `flush` (see above); none by default. */
  after?: (items: T[]) => Promise<void>;
  /** Called after each failed attempt of `flush` or `after` (`step`); returns nothing, the step is retried. */
  onError: (err: unknown, items: number, attempt: number, step: 'flush' | 'after') => void;
  /** Longest wait between retries; default 10000 ms. */
  maxBackoffMs?: number;
}

export class Batcher<T> {
  readonly #options: BatcherOptions<T>;
  #items: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** The second step of the last flushed batch, while it runs. */
  #after: Promise<void> | undefined;
  #stopping = false;
  #inFlight = 0;
  #inAfter = 0;

  constructor(options: BatcherOptions<T>) {
    this.#options = options;
  }

  /** Items waiting, plus the batch being flushed, plus the batch in its second step. */
  get buffered(): number {
    return this.#items.length + this.#inFlight + this.#inAfter;
  }

  add(item: T): void {
    this.#items.push(item);
    if (this.#items.length >= this.#options.maxItems) this.#kick();
    else this.#timer ??= setTimeout(() => this.#kick(), this.#options.maxDelayMs);
  }

  /** Resolves once the current flush and second step (if any) are done: for backpressure. */
  async settled(): Promise<void> {
    await this.#running;
    await this.#after;
  }

  /** Flush everything now and wait for it, second steps included; retries keep going until it succeeds. */
  async drain(): Promise<void> {
    this.#stopping = true;
    while (this.#items.length > 0 || this.#running) {
      this.#kick();
      await this.#running;
    }
    await this.#after;
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
    await this.#attempt('flush', this.#options.flush, batch);
    const after = this.#options.after;
    if (after) {
      // In order, one at a time: the previous batch's second step first.
      await this.#after;
      this.#inAfter = batch.length;
      this.#after = this.#attempt('after', after, batch).finally(() => {
        this.#inAfter = 0;
        this.#after = undefined;
      });
    }
    this.#inFlight = 0;
  }

  /** Run `step` on `batch` until it succeeds, with backoff between attempts. */
  async #attempt(name: 'flush' | 'after', step: (items: T[]) => Promise<void>, batch: T[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await step(batch);
        return;
      } catch (err) {
        this.#options.onError(err, batch.length, attempt, name);
        await new Promise((r) => setTimeout(r, retryDelay(attempt, this.#options.maxBackoffMs)));
      }
    }
  }
}
