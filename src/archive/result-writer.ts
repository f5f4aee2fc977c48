import { Batcher } from '../sub/batcher.js';
import type { Logger } from '../logger.js';
import type { Archive, HandlerResult } from './archive.js';

export interface ResultWriterOptions {
  archive: Pick<Archive, 'insertResults'>;
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
 * Batches result inserts across concurrent jobs. `write()` resolves once the result's
 * batch is stored, so a job completes only after its result is archived. While MongoDB
 * is unreachable the batch is retried with backoff and the jobs wait: an outage delays
 * results, it does not fail handlers or lose what they did.
 */
export class ResultWriter {
  readonly #batcher: Batcher<Pending>;

  constructor(options: ResultWriterOptions) {
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

  /** Write everything pending (retrying until it is stored). */
  drain(): Promise<void> {
    return this.#batcher.drain();
  }
}
