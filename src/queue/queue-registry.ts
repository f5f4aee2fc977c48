import type { Redis } from 'ioredis';
import type { EntryPolicy } from '../handlers/spec.js';
import { legacyQueueNames } from './queue-for.js';

/** What the registry says of a queue: the entry it is for, as last written. */
export interface QueueInfo {
  key: string;
  id: string;
  driver: string;
  handler: string;
  policy?: EntryPolicy;
}

/** Redis keys of the per-entry queues' state, for the stack whose `queue.name` is `base`. */
export function entryStateKey(base: string, ...parts: string[]): string {
  return ['er:queues', base, ...parts].join(':');
}

/**
 * Every per-entry queue ever used, in one Redis hash (queue name -> its entry as JSON):
 * the subscriber adds a queue when it enqueues to it, a worker when it serves an entry.
 * Workers drain registered queues whose entry their table no longer has (while they hold
 * jobs), and `dlq`, `status` and the metrics read every one, so a removed entry's jobs
 * and dead letters are never out of sight. Nothing is removed on its own: a queue name
 * costs one hash field.
 */
export class QueueRegistry {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #base: string;
  /** Written by this process, as `name\0json`: written again only when the entry changes. */
  readonly #written = new Set<string>();

  constructor(redis: Redis, base: string) {
    this.#redis = redis;
    this.#base = base;
    this.#key = entryStateKey(base, 'registry');
  }

  /** Record the queues' entries (one round trip, only for what this process has not written yet). */
  async register(queues: ReadonlyMap<string, QueueInfo>): Promise<void> {
    const fields: string[] = [];
    const marks: string[] = [];
    for (const [name, info] of queues) {
      const json = JSON.stringify(info);
      const mark = `${name}\0${json}`;
      if (this.#written.has(mark)) continue;
      fields.push(name, json);
      marks.push(mark);
    }
    if (fields.length === 0) return;
    await this.#redis.hset(this.#key, ...fields);
    for (const m of marks) this.#written.add(m);
  }

  /** Every registered queue with its entry, and the two queues of before (without one). */
  async list(): Promise<Map<string, QueueInfo | undefined>> {
    const all = await this.#redis.hgetall(this.#key);
    const out = new Map<string, QueueInfo | undefined>(legacyQueueNames(this.#base).map((n) => [n, undefined]));
    for (const [name, json] of Object.entries(all)) {
      try {
        out.set(name, JSON.parse(json) as QueueInfo);
      } catch {
        out.set(name, undefined);
      }
    }
    return out;
  }
}
