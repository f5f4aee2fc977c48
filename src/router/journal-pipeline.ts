import { coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { retryDelay } from '../lifecycle/retry-delay.js';
import type { JournalEntry, RedisJournal } from './redis-journal.js';

interface Pending {
  entry: JournalEntry;
  publish: () => void;
  done?: () => void;
}

/** Most events waiting for the journal before the PULL loop stops reading (bounded memory). */
export const JOURNAL_QUEUE_HIGH = 4096;

/**
 * Journal before publish, with group commit: accepted events wait here in the order they
 * were stamped; one loop writes everything waiting to the journal in one round trip, then
 * publishes those events in the same order and lets their REP replies go. So the PUB stream
 * and the journal keep the router's order, nothing is published or acknowledged that the
 * journal lacks, and the slower Redis is the larger the batches. A failed write is retried
 * with backoff, holding the batch (intake waits behind it: see {@link pending}).
 */
export class JournalPipeline {
  readonly #journal: Pick<RedisJournal, 'append'>;
  readonly #log: Logger;
  #queue: Pending[] = [];
  #running: Promise<void> | undefined;
  #idle: (() => void)[] = [];

  readonly #failures: { inc(): void } | undefined;

  constructor(journal: Pick<RedisJournal, 'append'>, log: Logger, failures?: { inc(): void }) {
    this.#journal = journal;
    this.#log = log;
    this.#failures = failures;
  }

  /** Events waiting for the journal. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queue an accepted event; `publish` runs once it is journaled, then `done` (if any). */
  add(entry: JournalEntry, publish: () => void, done?: () => void): void {
    this.#queue.push({ entry, publish, ...(done ? { done } : {}) });
    this.#running ??= this.#loop();
  }

  /** `add`, resolving once the event is journaled and published. */
  addAndWait(entry: JournalEntry, publish: () => void): Promise<void> {
    return new Promise((resolve) => this.add(entry, publish, resolve));
  }

  /** Resolves once everything added so far is journaled and published. */
  flushed(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #loop(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      for (let attempt = 1; ; attempt++) {
        try {
          await this.#journal.append(batch.map((p) => p.entry));
          break;
        } catch (err) {
          this.#failures?.inc();
          this.#log.error({ err: coerceError(err), events: batch.length, attempt }, 'journal write failed; holding the events and retrying');
          await new Promise((r) => setTimeout(r, retryDelay(attempt, 5000)));
        }
      }
      for (const p of batch) p.publish();
      for (const p of batch) p.done?.();
    }
    this.#running = undefined;
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}
