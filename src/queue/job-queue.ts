import { Queue } from 'bullmq';
import { QueueError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { QueueSettings } from '../config/settings.js';
import { queueNames, redisConnection } from './connection.js';
import { jobIdFor, type HandlerJobData } from './job.js';

export interface JobQueueOptions {
  redisUrl: string;
  queue: QueueSettings;
  log: Logger;
}

/** Completed jobs are kept this long so a duplicate event within it is not run again. */
const KEEP_COMPLETED = { age: 24 * 3600, count: 200_000 };
const KEEP_FAILED = { age: 7 * 24 * 3600 };

/** Enqueues handler jobs in bulk on BullMQ. */
export class JobQueue {
  readonly #normal: Queue<HandlerJobData>;
  readonly #exclusive: Queue<HandlerJobData>;
  #closing: Promise<void> | undefined;

  constructor(options: JobQueueOptions) {
    const names = queueNames(options.queue.name);
    const opts = { connection: redisConnection(options.redisUrl), prefix: options.queue.prefix };
    this.#normal = new Queue<HandlerJobData>(names.normal, opts);
    this.#exclusive = new Queue<HandlerJobData>(names.exclusive, opts);
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
    for (const data of jobs) {
      const job = {
        name: data.handler.key,
        data,
        opts: { jobId: jobIdFor(data.event.id, data.handler.id), removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED },
      };
      (data.handler.exclusive ? exclusive : normal).push(job);
    }
    try {
      await Promise.all([
        normal.length > 0 ? this.#normal.addBulk(normal) : undefined,
        exclusive.length > 0 ? this.#exclusive.addBulk(exclusive) : undefined,
      ]);
    } catch (err) {
      throw new QueueError(`cannot enqueue ${jobs.length} jobs: ${(err as Error).message}`, { cause: err });
    }
    return jobs.length;
  }

  close(): Promise<void> {
    this.#closing ??= Promise.all([this.#normal.close(), this.#exclusive.close()]).then(() => undefined);
    return this.#closing;
  }
}
