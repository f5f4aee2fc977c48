import { Queue, type JobsOptions } from 'bullmq';
import { QueueError } from '../errors.js';
import type { Logger } from '../logger.js';
import { BACKOFF_TYPE } from './backoff.js';
import { queueNames, queueConnection, redisRoundTrip } from './connection.js';
import { waitForReplicas, type BullConnection } from '../redis/redis-client.js';
import type { Redis } from 'ioredis';
import type { QueueSettings, ReplicaWait } from '../config/settings.js';
import { jobIdOf, type HandlerJobData } from './job.js';
import { ActorQueues } from './actor-queues.js';
import { ActorRegistry } from './actor-registry.js';

/** Retry policy for handlers that set none of their own (config.json `worker.retries` / `worker.backoff`). */
export interface RetryDefaults {
  /** Extra attempts after a failed run; a whole number >= 0. */
  retries: number;
  /** Base delay of the exponential backoff between attempts, in ms; >= 0. */
  backoffMs: number;
}

export interface JobQueueOptions {
  redisUrl: string;
  queue: QueueSettings;
  log: Logger;
  /** Used for handlers without `retries` / `backoff` in event-handlers.json. */
  defaults: RetryDefaults;
  /** Replicas that must have each enqueued batch before addBulk resolves (`redis.wait_replicas`); default none. */
  wait?: ReplicaWait;
}

/** Completed jobs are kept this long so a duplicate event within it is not run again. */
const KEEP_COMPLETED = { age: 24 * 3600, count: 200_000 };

/**
 * BullMQ options of one handler job: `1 + retries` attempts with jittered exponential
 * backoff (see backoff.ts). A job that fails its last attempt stays in the failed set
 * until an operator retries or purges it (`event-reactor dlq`): that set is the
 * dead-letter queue, so nothing in it expires on its own.
 */
export function jobOptions(data: HandlerJobData, defaults: RetryDefaults): JobsOptions {
  return {
    jobId: jobIdOf(data),
    attempts: 1 + (data.handler.retries ?? defaults.retries),
    backoff: { type: BACKOFF_TYPE, delay: data.handler.backoffMs ?? defaults.backoffMs },
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: false,
    // Debounced: run after the quiet period, if still the latest then (the worker checks).
    ...(data.debounce ? { delay: data.debounce.delayMs } : {}),
  };
}

/** Enqueues handler jobs in bulk on BullMQ. */
export class JobQueue {
  readonly #normal: Queue<HandlerJobData>;
  readonly #exclusive: Queue<HandlerJobData>;
  readonly #defaults: RetryDefaults;
  /** Targeted jobs (`data.actor`) go to their actor's queue. */
  readonly #actors: ActorQueues;
  #closing: Promise<void> | undefined;
  readonly #link: BullConnection;
  readonly #wait: ReplicaWait | undefined;

  /** @throws {RangeError} when `defaults.retries` or `defaults.backoffMs` is out of range */
  constructor(options: JobQueueOptions) {
    const { retries, backoffMs } = options.defaults;
    if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`JobQueue: defaults.retries must be a whole number >= 0, got ${retries}`);
    if (!Number.isFinite(backoffMs) || backoffMs < 0) throw new RangeError(`JobQueue: defaults.backoffMs must be a number >= 0, got ${backoffMs}`);
    this.#defaults = { retries, backoffMs };
    this.#wait = options.wait && options.wait.replicas > 0 ? options.wait : undefined;
    const names = queueNames(options.queue.name);
    this.#link = queueConnection(options.redisUrl);
    const opts = { connection: this.#link.connection, prefix: options.queue.prefix };
    this.#normal = new Queue<HandlerJobData>(names.normal, opts);
    this.#exclusive = new Queue<HandlerJobData>(names.exclusive, opts);
    this.#actors = new ActorQueues({
      redisUrl: options.redisUrl,
      queue: options.queue,
      registry: new ActorRegistry({ redisUrl: options.redisUrl, queue: options.queue }),
    });
    for (const q of [this.#normal, this.#exclusive]) {
      q.on('error', (err) => options.log.warn({ err, queue: q.name }, 'queue connection error'));
    }
  }

  /** Make exclusive handlers run one at a time across every worker process. */
  async start(): Promise<void> {
    try {
      await this.#exclusive.setGlobalConcurrency(1);
    } catch (err) {
      throw new QueueError(`cannot reach Redis: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Add one job per (event, handler); returns how many were handed to Redis. */
  async addBulk(jobs: readonly HandlerJobData[]): Promise<number> {
    type BulkJob = Parameters<Queue<HandlerJobData>['addBulk']>[0][number];
    const normal: BulkJob[] = [];
    const exclusive: BulkJob[] = [];
    const targeted: BulkJob[] = [];
    for (const data of jobs) {
      const job = { name: data.handler.key, data, opts: jobOptions(data, this.#defaults) };
      (data.actor !== undefined ? targeted : data.handler.exclusive ? exclusive : normal).push(job);
    }
    try {
      await Promise.all([
        normal.length > 0 ? this.#normal.addBulk(normal) : undefined,
        exclusive.length > 0 ? this.#exclusive.addBulk(exclusive) : undefined,
        this.#actors.addBulk(targeted),
      ]);
    } catch (err) {
      throw new QueueError(`cannot enqueue ${jobs.length} jobs: ${(err as Error).message}`, { cause: err });
    }
    if (this.#wait) await this.#replicated(this.#wait, [normal.length > 0 ? this.#normal : undefined, exclusive.length > 0 ? this.#exclusive : undefined]);
    return jobs.length;
  }

  /**
   * Wait until the replicas have the jobs just added (Redis replicates asynchronously: a
   * primary lost to a failover takes its last writes with it, and the subscriber is about
   * to move its cursor past these events). Too few replicas is a failure the subscriber
   * retries with the batch (the jobs already there are not added twice: same job ids).
   */
  async #replicated(wait: ReplicaWait, queues: (Queue<HandlerJobData> | undefined)[]): Promise<void> {
    for (const q of queues) {
      if (!q) continue;
      const client = (await q.getBackend().client) as unknown as Redis;
      let acked: number;
      try {
        acked = await waitForReplicas(client, q.toKey('meta'), wait.replicas, wait.timeoutMs);
      } catch (err) {
        throw new QueueError(`enqueued jobs not confirmed by replicas: ${(err as Error).message}`, { cause: err });
      }
      if (acked < wait.replicas) throw new QueueError(`enqueued jobs reached ${acked} of ${wait.replicas} replicas within ${wait.timeoutMs} ms`);
    }
  }

  /** Resolves when Redis answers a PING. @throws {QueueError} otherwise */
  async ping(): Promise<void> {
    try {
      await redisRoundTrip(await this.#normal.getBackend().client);
    } catch (err) {
      throw new QueueError(`Redis does not answer: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Close the Redis connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.all([this.#normal.close(), this.#exclusive.close(), this.#actors.close()]).then(() => this.#link.close());
    return this.#closing;
  }
}
