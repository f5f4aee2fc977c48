import { Queue, type Job } from 'bullmq';
import { QueueError, UnknownHandlerError } from '../errors.js';
import { redact } from '../redact.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import type { Logger } from '../logger.js';
import type { QueueSettings } from '../config/settings.js';
import type { Redis } from 'ioredis';
import { sharedRedis } from './shared-redis.js';
import { AllQueues } from './all-queues.js';
import type { HandlerJobData } from './job.js';

export interface DeadLettersOptions {
  redisUrl: string;
  queue: QueueSettings;
  log: Logger;
  /** How long to wait for Redis before giving up, in ms; default 5000. */
  connectTimeoutMs?: number;
  /**
   * Whether event-handlers.json still has a handler entry (key and id); a dead job whose
   * entry is gone is not retried (a worker would refuse it). Default: every entry is.
   */
  handlerKnown?: (key: string, id: string) => boolean;
}

/** A job whose last attempt failed, as kept in BullMQ's failed set. */
export interface DeadJob {
  id: string;
  /** BullMQ queue it is in: its entry's (queue-for.ts), or one of the two of before. */
  queue: string;
  /** `namespace:event_type` the handler is registered under. */
  key: string;
  driver: HandlerJobData['handler']['driver'];
  handler: string;
  eventId: string;
  /** Failed attempts. */
  attempts: number;
  failedReason: string;
  /** When the last attempt failed. */
  finishedOn: Date | undefined;
  data: HandlerJobData;
}

/** Jobs read from Redis per round trip. */
const PAGE = 500;

/**
 * The dead-letter queue: handler jobs that failed their last attempt, which BullMQ keeps
 * in the failed set of each handler queue (every queue of the registry, and each actor's
 * queue). Lists, retries
 * and purges them for `event-reactor dlq`.
 */
export class DeadLetters {
  readonly #redis: Redis;
  readonly #allQueues: AllQueues;
  #queues: Queue<HandlerJobData>[] = [];
  readonly #timeoutMs: number;
  readonly #redisUrl: string;
  readonly #handlerKnown: ((key: string, id: string) => boolean) | undefined;
  #ready: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** @throws {RangeError} when `connectTimeoutMs` is not a positive number */
  constructor(options: DeadLettersOptions) {
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    if (!(timeoutMs > 0)) throw new RangeError(`DeadLetters: connectTimeoutMs must be > 0, got ${timeoutMs}`);
    this.#timeoutMs = timeoutMs;
    this.#redisUrl = options.redisUrl;
    this.#handlerKnown = options.handlerKnown;
    this.#redis = sharedRedis(options.redisUrl);
    this.#redis.on('error', (err) => options.log.debug({ err }, 'queue connection error'));
    this.#allQueues = new AllQueues(this.#redis, options.queue, (err, queue) => options.log.debug({ err, queue }, 'queue connection error'));
  }

  /** Every dead job of every queue, most recently failed first. */
  async list(): Promise<DeadJob[]> {
    const jobs = await this.#all();
    return jobs.map(describe).sort((a, b) => (b.finishedOn?.getTime() ?? 0) - (a.finishedOn?.getTime() ?? 0));
  }

  /** The dead job with this id, or undefined when no queue has it in its failed set. */
  async get(jobId: string): Promise<DeadJob | undefined> {
    const job = await this.#find(jobId);
    return job ? describe(job) : undefined;
  }

  /**
   * Put a dead job back in its queue with its attempts reset, so it gets `1 + retries`
   * attempts again. Returns false when no queue has it in its failed set.
   * @throws {UnknownHandlerError} when its handler entry is no longer in event-handlers.json
   */
  async retry(jobId: string): Promise<boolean> {
    const job = await this.#find(jobId);
    if (!job) return false;
    const [gone] = this.#unknown([job]);
    if (gone) throw new UnknownHandlerError(`job ${jobId} not retried: ${gone}`);
    await this.#call(`retry job ${jobId}`, () => retryDead(job, this.#queueOf(job)));
    return true;
  }

  /** Retry every dead job; returns how many were put back. */
  async retryAll(): Promise<number> {
    const jobs = await this.#all();
    const gone = this.#unknown(jobs);
    const known = jobs.filter((j) => this.#isKnown(j));
    for (const job of known) await this.#call(`retry job ${job.id}`, () => retryDead(job, this.#queueOf(job)));
    if (gone.length > 0) throw new UnknownHandlerError(`retried ${known.length}; not retried ${gone.length}: ${gone.join('; ')}`);
    return known.length;
  }

  #isKnown(job: Job<HandlerJobData>): boolean {
    const known = this.#handlerKnown;
    return !known || known(job.data.handler.key, job.data.handler.id);
  }

  /** Why each job whose handler entry is gone cannot be retried. */
  #unknown(jobs: readonly Job<HandlerJobData>[]): string[] {
    return jobs
      .filter((j) => !this.#isKnown(j))
      .map(
        (j) =>
          `job ${j.id} runs handler ${JSON.stringify(j.data.handler.command)} (id ${j.data.handler.id}) under key ${j.data.handler.key}, which event-handlers.json no longer has (restore the entry, or purge the job)`,
      );
  }

  /** Delete a dead job from Redis; its results stay in MongoDB. Returns false when it is not dead. */
  async purge(jobId: string): Promise<boolean> {
    const job = await this.#find(jobId);
    if (!job) return false;
    await this.#call(`remove job ${jobId}`, () => job.remove());
    return true;
  }

  /** Delete every dead job; returns how many were removed. */
  async purgeAll(): Promise<number> {
    let removed = 0;
    for (const q of await this.#connected()) {
      removed += (await this.#call(`purge ${q.name}`, () => q.clean(0, 0, 'failed'))).length;
    }
    return removed;
  }

  /** Close the Redis connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#allQueues
      .close()
      .then(() => this.#redis.quit())
      .then(
        () => undefined,
        () => this.#redis.disconnect(),
      );
    return this.#closing;
  }

  #queueOf(job: Job<HandlerJobData>): Queue<HandlerJobData> {
    const q = this.#queues.find((x) => x.name === job.queueName);
    if (!q) throw new QueueError(`job ${job.id} is in queue ${job.queueName}, which is not ours`);
    return q;
  }

  async #find(jobId: string): Promise<Job<HandlerJobData> | undefined> {
    for (const q of await this.#connected()) {
      // State first: a job read before its last attempt failed would show the attempts before it.
      if ((await this.#call(`read job ${jobId}`, () => q.getJobState(jobId))) !== 'failed') continue;
      const job = await this.#call(`read job ${jobId}`, () => q.getJob(jobId));
      if (job) return job;
    }
    return undefined;
  }

  async #all(): Promise<Job<HandlerJobData>[]> {
    const out: Job<HandlerJobData>[] = [];
    for (const q of await this.#connected()) {
      for (let start = 0; ; start += PAGE) {
        const page = await this.#call(`list ${q.name}`, () => q.getFailed(start, start + PAGE - 1));
        // A job removed between the range read and the hash read comes back empty.
        out.push(...page.filter((j): j is Job<HandlerJobData> => j !== undefined && j !== null && j.id !== undefined));
        if (page.length < PAGE) break;
      }
    }
    return out;
  }

  /**
   * The queues, read again from the registry at each call (the console lives long; entries
   * come and go), once Redis answers; a QueueError after `connectTimeoutMs` otherwise.
   */
  async #connected(): Promise<Queue<HandlerJobData>[]> {
    this.#ready ??= (async () => {
      const ready = this.#allQueues.list();
      if (!(await settlesWithin(ready, this.#timeoutMs))) {
        ready.catch(() => undefined);
        throw new QueueError(`cannot reach Redis at ${redact(this.#redisUrl)} within ${this.#timeoutMs} ms`);
      }
      this.#queues = await ready;
    })();
    await this.#ready;
    this.#queues = await this.#call('list the queues', () => this.#allQueues.list());
    return this.#queues;
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new QueueError(`cannot ${what}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/**
 * Attempts start again from zero; `attemptsStarted` is kept so result ids stay distinct.
 * BullMQ's retry keeps the job's stall count (`stc`), so a job dead-lettered as stalled
 * would be dead again at its first stall: the count is reset too.
 */
async function retryDead(job: Job<HandlerJobData>, queue: Queue<HandlerJobData>): Promise<void> {
  const client = await queue.getBackend().client;
  await client.hset(queue.toKey(job.id ?? ''), { stc: 0 });
  await job.retry('failed', { resetAttemptsMade: true });
}

function describe(job: Job<HandlerJobData>): DeadJob {
  const { event, handler } = job.data;
  return {
    id: job.id ?? '',
    queue: job.queueName,
    key: handler.key,
    driver: handler.driver,
    handler: handler.command,
    eventId: event.id,
    attempts: job.attemptsMade,
    failedReason: job.failedReason ?? '',
    finishedOn: job.finishedOn ? new Date(job.finishedOn) : undefined,
    data: job.data,
  };
}
