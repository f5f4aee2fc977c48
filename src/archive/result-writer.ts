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
  /** Resolves `write()`: true once stored, false when dropped (see `stillOurs`). */
  done: (stored: boolean) => void;
  stillOurs?: (() => Promise<boolean>) | undefined;
  /** Sent once already (its batch failed): asked `stillOurs` before it is sent again. */
  tried?: true;
  settled?: true;
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
        const sending: Pending[] = [];
        for (const p of items) {
          if (p.settled) continue;
          if (p.tried && p.stillOurs && !(await p.stillOurs())) {
            p.settled = true;
            p.done(false);
            continue;
          }
          p.tried = true;
          sending.push(p);
        }
        await options.archive.insertResults(sending.map((p) => p.result));
        for (const p of sending) {
          p.settled = true;
          p.done(true);
        }
      },
      onError: (err, items, attempt) => options.log.error({ err, items, attempt }, 'results not archived; retrying'),
    });
  }

  /**
   * Store `result`; resolves true once it is stored, false when it was dropped.
   *
   * `stillOurs`: asked before a result whose batch failed is sent again; false drops it.
   * A worker cut off from Redis and MongoDB at once (a host off the network) finds its
   * job taken as stalled and run again elsewhere while its own result waits here: that
   * run archives the job's result, and this one, sent once the link is back, would be a
   * second. The handler worker passes "do I still hold the job's lock" (renewing it),
   * so a result is sent only while no other run of its job can have started.
   */
  write(result: HandlerResult, stillOurs?: () => Promise<boolean>): Promise<boolean> {
    return new Promise((resolve) => this.#batcher.add({ result, done: resolve, stillOurs }));
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
