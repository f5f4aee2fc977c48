import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueSettings } from '../config/settings.js';
import { actorQueueName, type ActorRegistry } from './actor-registry.js';
import type { HandlerJobData } from './job.js';

/** A job for BullMQ's addBulk. */
export interface BulkJob {
  name: string;
  data: HandlerJobData;
  opts?: JobsOptions;
}

/**
 * The subscriber's side of the actors' queues: one BullMQ queue per actor name, opened on
 * first use, on the connection of the entries' queues (the caller's: one `WAIT` covers both). Each name a job is targeted at is remembered
 * in the registry, so that a job for an actor that never comes is found and dead-lettered
 * (absent-actors.ts) rather than forgotten.
 */
export class ActorQueues {
  readonly #queue: QueueSettings;
  readonly #redis: Redis;
  readonly #registry: ActorRegistry;
  readonly #queues = new Map<string, Queue<HandlerJobData>>();
  #closing: Promise<void> | undefined;

  /** `redis`: the caller's connection, left open by {@link close}. */
  constructor(options: { redis: Redis; queue: QueueSettings; registry: ActorRegistry }) {
    this.#queue = options.queue;
    this.#redis = options.redis;
    this.#registry = options.registry;
  }

  /** Add each job to the queue of its actor (`data.actor`); the names first, then the jobs. */
  async addBulk(jobs: readonly BulkJob[]): Promise<void> {
    const byActor = new Map<string, BulkJob[]>();
    for (const j of jobs) {
      const actor = j.data.actor!;
      const list = byActor.get(actor);
      if (list) list.push(j);
      else byActor.set(actor, [j]);
    }
    if (byActor.size === 0) return;
    await this.#registry.remember(byActor.keys());
    await Promise.all([...byActor].map(([actor, list]) => this.#queueOf(actor).addBulk(list)));
  }

  #queueOf(actor: string): Queue<HandlerJobData> {
    let q = this.#queues.get(actor);
    if (!q) {
      q = new Queue<HandlerJobData>(actorQueueName(this.#queue.name, actor), { connection: this.#redis, prefix: this.#queue.prefix });
      q.on('error', () => undefined);
      this.#queues.set(actor, q);
    }
    return q;
  }

  /** Close the queues and the registry (not the connection). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.allSettled([...[...this.#queues.values()].map((q) => q.close()), this.#registry.close()]).then(() => undefined);
    return this.#closing;
  }
}
