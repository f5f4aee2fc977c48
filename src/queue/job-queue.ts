import { Queue, type JobsOptions } from 'bullmq';
import { QueueError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { QueueSettings, ReplicaWait } from '../config/settings.js';
import { waitForReplicas } from '../redis/redis-client.js';
import { BACKOFF_TYPE } from './backoff.js';
import type { Redis } from 'ioredis';
import { redisRoundTrip } from './connection.js';
import { queueFor } from './queue-for.js';
import { QueueRegistry, type QueueInfo } from './queue-registry.js';
import { OrderTickets, orderGroup } from './order-tickets.js';
import { sharedRedis } from './shared-redis.js';
import { jobIdOf, type HandlerJobData } from './job.js';
import { ActorQueues } from './actor-queues.js';
import { ActorRegistry, actorQueueName } from './actor-registry.js';

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

/**
 * Enqueues handler jobs in bulk on BullMQ: each handler entry has a queue of its own
 * ({@link queueFor}), registered in the {@link QueueRegistry} so workers and `dlq` find
 * it. All the entry queues share one Redis connection. Jobs of an entry with `order_by`
 * get their ticket here, in the order given (see order-tickets.ts).
 */
export class JobQueue {
  readonly #redis: Redis;
  readonly #queues = new Map<string, Queue<HandlerJobData>>();
  readonly #options: JobQueueOptions;
  readonly #defaults: RetryDefaults;
  readonly #registry: QueueRegistry;
  readonly #tickets: OrderTickets;
  /** Targeted jobs (`data.actor`) go to their actor's queue. */
  readonly #actors: ActorQueues;
  readonly #wait: ReplicaWait | undefined;
  #closing: Promise<void> | undefined;

  /** @throws {RangeError} when `defaults.retries` or `defaults.backoffMs` is out of range */
  constructor(options: JobQueueOptions) {
    const { retries, backoffMs } = options.defaults;
    if (!Number.isInteger(retries) || retries < 0) throw new RangeError(`JobQueue: defaults.retries must be a whole number >= 0, got ${retries}`);
    if (!Number.isFinite(backoffMs) || backoffMs < 0) throw new RangeError(`JobQueue: defaults.backoffMs must be a number >= 0, got ${backoffMs}`);
    this.#defaults = { retries, backoffMs };
    this.#options = options;
    this.#wait = options.wait && options.wait.replicas > 0 ? options.wait : undefined;
    this.#redis = sharedRedis(options.redisUrl);
    this.#redis.on('error', (err) => options.log.warn({ err }, 'queue connection error'));
    this.#registry = new QueueRegistry(this.#redis, options.queue.name);
    this.#tickets = new OrderTickets(this.#redis, options.queue.name);
    this.#actors = new ActorQueues({
      redis: this.#redis,
      queue: options.queue,
      registry: new ActorRegistry({ redisUrl: options.redisUrl, queue: options.queue }),
    });
  }

  /** Resolves once Redis answers. @throws {QueueError} otherwise */
  async start(): Promise<void> {
    try {
      await this.#redis.ping();
    } catch (err) {
      throw new QueueError(`cannot reach Redis: ${(err as Error).message}`, { cause: err });
    }
  }

  #queue(name: string): Queue<HandlerJobData> {
    let q = this.#queues.get(name);
    if (!q) {
      q = new Queue<HandlerJobData>(name, { connection: this.#redis, prefix: this.#options.queue.prefix });
      q.on('error', (err) => this.#options.log.warn({ err, queue: name }, 'queue connection error'));
      this.#queues.set(name, q);
    }
    return q;
  }

  /** Add one job per (event, handler), in order; returns how many were handed to Redis. */
  async addBulk(jobs: readonly HandlerJobData[]): Promise<number> {
    type BulkJob = Parameters<Queue<HandlerJobData>['addBulk']>[0][number];
    const byQueue = new Map<string, BulkJob[]>();
    // Targeted jobs go to their actor's queue (no entry policy applies to them: see handlers-file.ts).
    const targeted: BulkJob[] = [];
    const infos = new Map<string, QueueInfo>();
    try {
      // Commands on one connection run in the order sent: the tickets follow the order
      // of `jobs` (the router's) without a round trip each.
      const prepared = jobs.flatMap((job) => {
        if (job.actor !== undefined) {
          targeted.push({ name: job.handler.key, data: job, opts: jobOptions(job, this.#defaults) });
          return [];
        }
        const name = queueFor(job, this.#options.queue.name);
        const opts = jobOptions(job, this.#defaults);
        const orderBy = job.handler.policy?.orderBy;
        if (orderBy === undefined) return [{ name, opts, data: Promise.resolve(job) }];
        const group = orderGroup(job.event, orderBy);
        return [{ name, opts, data: this.#tickets.assign(name, group, opts.jobId ?? '').then((seq) => ({ ...job, order: { group, seq } })) }];
      });
      const datas = await Promise.all(prepared.map((p) => p.data));
      for (const [i, { name, opts }] of prepared.entries()) {
        const job = datas[i]!;
        const h = job.handler;
        if (!infos.has(name)) infos.set(name, { key: h.key, id: h.id, driver: h.driver, handler: h.command, ...(h.policy ? { policy: h.policy } : {}) });
        const list = byQueue.get(name) ?? [];
        list.push({ name: h.key, data: job, opts });
        byQueue.set(name, list);
      }
      await this.#registry.register(infos);
      await Promise.all([...[...byQueue].map(([name, list]) => this.#queue(name).addBulk(list)), this.#actors.addBulk(targeted)]);
    } catch (err) {
      throw new QueueError(`cannot enqueue ${jobs.length} jobs: ${(err as Error).message}`, { cause: err });
    }
    // Entry and actor queues were written on the one connection (and share a slot on a Cluster).
    const written = byQueue.keys().next().value ?? (targeted[0] ? actorQueueName(this.#options.queue.name, targeted[0].data.actor!) : undefined);
    if (this.#wait && written !== undefined) await this.#replicated(this.#wait, this.#queue(written));
    return jobs.length;
  }

  /**
   * Wait until the replicas have the jobs just added (Redis replicates asynchronously: a
   * primary lost to a failover takes its last writes with it, and the subscriber is about
   * to move its cursor past these events). Too few replicas is a failure the subscriber
   * retries with the batch (the jobs already there are not added twice: same job ids).
   * Every queue's writes went through the one connection, and on a Cluster every queue's
   * keys share the prefix's slot: one WAIT, on the node of a queue's key, covers them all.
   */
  async #replicated(wait: ReplicaWait, queue: Queue<HandlerJobData>): Promise<void> {
    let acked: number;
    try {
      acked = await waitForReplicas(this.#redis, queue.toKey('meta'), wait.replicas, wait.timeoutMs);
    } catch (err) {
      throw new QueueError(`enqueued jobs not confirmed by replicas: ${(err as Error).message}`, { cause: err });
    }
    if (acked < wait.replicas) throw new QueueError(`enqueued jobs reached ${acked} of ${wait.replicas} replicas within ${wait.timeoutMs} ms`);
  }

  /** Resolves when Redis answers a PING. @throws {QueueError} otherwise */
  async ping(): Promise<void> {
    try {
      await redisRoundTrip(this.#redis);
    } catch (err) {
      throw new QueueError(`Redis does not answer: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Close the Redis connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.allSettled([...[...this.#queues.values()].map((q) => q.close()), this.#actors.close()])
      .then(() => this.#redis.quit())
      .then(
        () => undefined,
        () => this.#redis.disconnect(),
      );
    return this.#closing;
  }
}
