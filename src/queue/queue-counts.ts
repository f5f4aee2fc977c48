import type { Redis } from 'ioredis';
import { QueueError } from '../errors.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { redact } from '../redact.js';
import type { QueueSettings } from '../config/settings.js';
import { sharedRedis } from './shared-redis.js';
import { AllQueues } from './all-queues.js';
import { Breakers, type BreakerState } from './breaker.js';
import { describePolicy } from '../rules/entry-policy.js';
import type { EntryPolicy } from '../handlers/spec.js';

/** Job states counted by {@link QueueCounter}. */
export const JOB_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/** Jobs per state, per BullMQ queue name. */
export type QueueCounts = Record<string, Record<(typeof JOB_STATES)[number], number>>;

/** A per-entry queue for `status`: its entry, policy and breaker. */
export interface EntryQueueStatus {
  queue: string;
  key: string;
  driver: string;
  handler: string;
  policy?: EntryPolicy;
  /** The policy in words. */
  described: string;
  breaker?: BreakerState;
}

/**
 * Counts the handler jobs of each queue by state (`failed` is the dead-letter queue), on
 * connections of its own that fail fast: a Redis that does not answer within `timeoutMs`
 * is an error, not a hang. For `status` (one read) and the worker's `queue_jobs` gauge.
 */
export class QueueCounter {
  readonly #redis: Redis;
  readonly #queues: AllQueues;
  readonly #breakers: Breakers;
  readonly #redisUrl: string;
  readonly #timeoutMs: number;
  #closing: Promise<void> | undefined;
  #lastError: Error | undefined;

  constructor(redisUrl: string, queue: QueueSettings, timeoutMs = 3000) {
    this.#redis = sharedRedis(redisUrl, true);
    // Kept to say why Redis does not answer (a wrong password, a refused connection).
    this.#redis.on('error', (err) => (this.#lastError = err));
    this.#queues = new AllQueues(this.#redis, queue, (err) => (this.#lastError = err));
    this.#breakers = new Breakers(this.#redis, queue.name);
    this.#redisUrl = redisUrl;
    this.#timeoutMs = timeoutMs;
  }

  async #bounded<T>(reading: Promise<T>): Promise<T> {
    if (!(await settlesWithin(reading, this.#timeoutMs))) {
      reading.catch(() => undefined);
      const why = this.#lastError ? ` (${redact(this.#lastError.message)})` : '';
      throw new Error(`no answer within ${this.#timeoutMs} ms${why}`);
    }
    return reading;
  }

  /** @throws {QueueError} naming the Redis URL (password hidden) when it cannot be read */
  async counts(): Promise<QueueCounts> {
    try {
      const counts: QueueCounts = {};
      await this.#bounded(ready(this.#redis));
      const queues = await this.#bounded(this.#queues.list());
      const read = await this.#bounded(Promise.all(queues.map((q) => q.getJobCounts(...JOB_STATES))));
      queues.forEach((q, i) => (counts[q.name] = read[i] as QueueCounts[string]));
      return counts;
    } catch (err) {
      throw new QueueError(`cannot read the queues at ${redact(this.#redisUrl)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The per-entry queues' entries, policies and breakers, as the last {@link counts} found them. */
  async entries(): Promise<EntryQueueStatus[]> {
    const out: EntryQueueStatus[] = [];
    for (const [queue, info] of this.#queues.infos) {
      if (!info) continue;
      const breaker = info.policy?.breaker ? await this.#bounded(this.#breakers.read(queue)) : undefined;
      out.push({
        queue,
        key: info.key,
        driver: info.driver,
        handler: info.handler,
        ...(info.policy ? { policy: info.policy } : {}),
        described: describePolicy(info.policy),
        ...(breaker ? { breaker } : {}),
      });
    }
    return out;
  }

  close(): Promise<void> {
    this.#closing ??= this.#queues
      .close()
      .then(() => this.#redis.quit())
      .then(
        () => undefined,
        () => this.#redis.disconnect(),
      );
    return this.#closing;
  }
}

/** One reading of the queues' counts (opens and closes its connections). */
export async function readQueueCounts(redisUrl: string, queue: QueueSettings, timeoutMs = 3000): Promise<{ counts: QueueCounts; entries: EntryQueueStatus[] }> {
  const counter = new QueueCounter(redisUrl, queue, timeoutMs);
  try {
    return { counts: await counter.counts(), entries: await counter.entries() };
  } finally {
    await counter.close();
  }
}

/** Resolves once the connection is ready (it fails fast: commands are not queued before). */
function ready(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => redis.once('ready', () => resolve()));
}
