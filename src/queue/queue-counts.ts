import { Queue } from 'bullmq';
import { QueueError } from '../errors.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { redact } from '../redact.js';
import type { QueueSettings } from '../config/settings.js';
import { queueNames, queueConnection } from './connection.js';
import type { BullConnection } from '../redis/redis-client.js';

/** Job states counted by {@link QueueCounter}. */
export const JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/** Jobs per state, per BullMQ queue name. */
export type QueueCounts = Record<string, Record<(typeof JOB_STATES)[number], number>>;

/**
 * Counts the handler jobs of each queue by state (`failed` is the dead-letter queue), on
 * connections of its own that fail fast: a Redis that does not answer within `timeoutMs`
 * is an error, not a hang. For `status` (one read) and the worker's `queue_jobs` gauge.
 */
export class QueueCounter {
  readonly #queues: Queue[];
  readonly #redisUrl: string;
  readonly #timeoutMs: number;
  #closing: Promise<void> | undefined;
  readonly #link: BullConnection;
  #lastError: Error | undefined;

  constructor(redisUrl: string, queue: QueueSettings, timeoutMs = 3000) {
    const names = queueNames(queue.name);
    this.#link = queueConnection(redisUrl, true);
    this.#queues = [names.normal, names.exclusive].map((n) => new Queue(n, { connection: this.#link.connection, prefix: queue.prefix }));
    // Kept to say why Redis does not answer (a wrong password, a refused connection).
    for (const q of this.#queues) q.on('error', (err) => (this.#lastError = err));
    this.#redisUrl = redisUrl;
    this.#timeoutMs = timeoutMs;
  }

  /** @throws {QueueError} naming the Redis URL (password hidden) when it cannot be read */
  async counts(): Promise<QueueCounts> {
    try {
      const counts: QueueCounts = {};
      for (const q of this.#queues) {
        const reading = q.getJobCounts(...JOB_STATES);
        if (!(await settlesWithin(reading, this.#timeoutMs))) {
          const why = this.#lastError ? ` (${redact(this.#lastError.message)})` : '';
          throw new Error(`no answer within ${this.#timeoutMs} ms${why}`);
        }
        counts[q.name] = (await reading) as QueueCounts[string];
      }
      return counts;
    } catch (err) {
      throw new QueueError(`cannot read the queues at ${redact(this.#redisUrl)}: ${(err as Error).message}`, { cause: err });
    }
  }

  close(): Promise<void> {
    this.#closing ??= Promise.allSettled(this.#queues.map((q) => q.close())).then(() => this.#link.close());
    return this.#closing;
  }
}

/** One reading of the queues' counts (opens and closes its connections). */
export async function readQueueCounts(redisUrl: string, queue: QueueSettings, timeoutMs = 3000): Promise<QueueCounts> {
  const counter = new QueueCounter(redisUrl, queue, timeoutMs);
  try {
    return await counter.counts();
  } finally {
    await counter.close();
  }
}
