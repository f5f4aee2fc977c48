import { setTimeout as sleep } from 'node:timers/promises';
import { Batcher } from '../lifecycle/batcher.js';
import { retryDelay } from '../lifecycle/retry-delay.js';
import type { Logger } from '../logger.js';
import type { Archive } from './archive.js';
import type { HandlerResult } from '../handlers/result.js';

export interface ResultWriterOptions {
  archive: Pick<Archive, 'insertResults' | 'findOkResult'>;
  log: Logger;
  /** Write at this many results or after `maxDelayMs`; defaults 200 and 10 ms. */
  maxItems?: number;
  maxDelayMs?: number;
}

interface Pending {
  result: HandlerResult;
  done: () => void;
}

/**
 * The worker's side of `results`. Batches result inserts across concurrent jobs:
 * `write()` resolves once the result's batch is stored, so a job completes only after its
 * result is archived. While MongoDB is unreachable the batch is retried with backoff and
 * the jobs wait: an outage delays results, it does not fail handlers or lose what they did.
 * Looks up earlier successful runs the same way.
 */
export class ResultWriter {
  readonly #batcher: Batcher<Pending>;
  readonly #archive: ResultWriterOptions['archive'];
  readonly #log: Logger;

  constructor(options: ResultWriterOptions) {
    this.#archive = options.archive;
    this.#log = options.log;
    this.#batcher = new Batcher<Pending>({
      maxItems: options.maxItems ?? 200,
      maxDelayMs: options.maxDelayMs ?? 10,
      flush: async (items) => {
        await options.archive.insertResults(items.map((p) => p.result));
        for (const p of items) p.done();
      },
      onError: (err, items, attempt) => options.log.error({ err, items, attempt }, 'results not archived; retrying'),
    });
  }

  write(result: HandlerResult): Promise<void> {
    return new Promise((resolve) => this.#batcher.add({ result, done: resolve }));
  }

  /**
   * The first of the result `ids` stored with status `ok`, if any. Retried with backoff
   * while MongoDB is unreachable, until `signal` aborts.
   *
   * @throws the reason of `signal` once it aborts
   */
  async findOk(ids: readonly string[], signal?: AbortSignal): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      try {
        return await this.#archive.findOkResult(ids);
      } catch (err) {
        this.#log.error({ err, ids, attempt }, 'cannot look up earlier results; retrying');
        await sleep(retryDelay(attempt), undefined, signal ? { signal } : {}).catch(() => undefined);
      }
    }
  }

  /** Write everything pending (retrying until it is stored). */
  drain(): Promise<void> {
    return this.#batcher.drain();
  }
}
