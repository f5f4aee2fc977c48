import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueSettings } from '../config/settings.js';
import type { HandlerJobData } from './job.js';
import { QueueRegistry, type QueueInfo } from './queue-registry.js';
import { actorQueueName, knownActorNames } from './actor-registry.js';

/**
 * Every handler queue of a stack (the registry's, each known actor's, and the two of before), as BullMQ
 * Queues on one connection, for readers: `dlq`, `status`, the queue gauges, the console.
 */
export class AllQueues {
  readonly #redis: Redis;
  readonly #settings: QueueSettings;
  readonly #registry: QueueRegistry;
  readonly #queues = new Map<string, Queue<HandlerJobData>>();
  readonly #onError: (err: Error, queue: string) => void;
  #infos = new Map<string, QueueInfo | undefined>();

  constructor(redis: Redis, settings: QueueSettings, onError: (err: Error, queue: string) => void) {
    this.#redis = redis;
    this.#settings = settings;
    this.#registry = new QueueRegistry(redis, settings.name);
    this.#onError = onError;
  }

  /** The queues, read again from the registry and the actors' heartbeats. */
  async list(): Promise<Queue<HandlerJobData>[]> {
    const [infos, actors] = await Promise.all([this.#registry.list(), knownActorNames(this.#redis, this.#settings.name)]);
    for (const actor of actors) infos.set(actorQueueName(this.#settings.name, actor), undefined);
    this.#infos = infos;
    return [...this.#infos.keys()].map((name) => this.get(name));
  }

  /** The entry of each queue as the last {@link list} read it (none for actors' queues and the two queues of before). */
  get infos(): ReadonlyMap<string, QueueInfo | undefined> {
    return this.#infos;
  }

  /** The queue of this name (opened on first use). */
  get(name: string): Queue<HandlerJobData> {
    let q = this.#queues.get(name);
    if (!q) {
      q = new Queue<HandlerJobData>(name, { connection: this.#redis, prefix: this.#settings.prefix });
      q.on('error', (err) => this.#onError(err, name));
      this.#queues.set(name, q);
    }
    return q;
  }

  /** Close the queues (not the connection, which is the caller's). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#queues.values()].map((q) => q.close()));
  }
}
