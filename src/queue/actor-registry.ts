import type { Redis } from 'ioredis';
import { createRedis } from '../redis/redis-client.js';
import { QueueError } from '../errors.js';
import { redact } from '../redact.js';
import type { QueueSettings } from '../config/settings.js';

/** An actor worker renews its heartbeat this often, in ms. */
export const HEARTBEAT_MS = 2000;

/** An actor whose last heartbeat is older than this (ms) is not live: five missed beats. */
export const ACTOR_TTL_MS = 10_000;

/** One actor as the registry knows it. */
export interface ActorSeen {
  name: string;
  /** Its last heartbeat, ms since it (Redis's clock); undefined if it never beat (only targeted). */
  ageMs: number | undefined;
  /** Its heartbeat is younger than {@link ACTOR_TTL_MS}. */
  live: boolean;
}

/**
 * The BullMQ queue of the jobs targeted at `actor`: `<queue.name>-actor-<actor>` (actor
 * names have no ":", which BullMQ refuses in queue names).
 */
export function actorQueueName(queue: string, actor: string): string {
  return `${queue}-actor-${actor}`;
}

/** The sorted set of actors by last heartbeat; `<key>:targets` is the set of names ever targeted. */
function actorsKey(queue: string): string {
  // Both keys in one script: a hash tag keeps them in one Redis Cluster slot.
  return `er:actors:{${queue}}`;
}

/**
 * Every actor name known (beating, beaten once, or only targeted), read on a connection the
 * caller owns: readers of every queue ({@link AllQueues}) add the actors' queues with it.
 */
export async function knownActorNames(redis: Redis, queue: string): Promise<string[]> {
  const key = actorsKey(queue);
  const [beating, targeted] = await Promise.all([redis.zrange(key, '0', '-1'), redis.smembers(`${key}:targets`)]);
  return [...new Set([...beating, ...targeted])].sort();
}

// Scores are Redis's own clock (TIME), so actors on hosts whose clocks differ agree.
const NOW_MS = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";
const BEAT = `${NOW_MS}
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now`;
const READ = `${NOW_MS}
return {now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), redis.call('SMEMBERS', KEYS[2])}`;

/**
 * Who the actors are, in Redis: a sorted set of actor names scored by their last heartbeat
 * (`er:actors:{<queue>}`), and the set of every name a job was ever targeted at
 * (`er:actors:{<queue>}:targets`), so that jobs waiting for an actor that never came are
 * found too. Actor workers beat; the subscriber reads the live ones for `"target": "all"`;
 * every worker reads both to find jobs no live actor will take; `status` lists them.
 */
export class ActorRegistry {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #targets: string;
  readonly #url: string;
  #cache: { at: number; live: Promise<string[]> } | undefined;
  #closing: Promise<void> | undefined;

  /** `failFast`: commands fail at once while Redis is away (for `status`), instead of waiting for it. */
  constructor(options: { redisUrl: string; queue: QueueSettings; failFast?: boolean }) {
    this.#url = options.redisUrl;
    this.#redis = createRedis(options.redisUrl, {
      connectionName: 'event-reactor-actors',
      // Connects on its first command: a JobQueue that never targets an actor opens nothing.
      lazyConnect: true,
      ...(options.failFast ? { maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 } : { maxRetriesPerRequest: null }),
    });
    // Reported by the calls that fail; a connection event is no reason to crash.
    this.#redis.on('error', () => undefined);
    this.#key = actorsKey(options.queue.name);
    this.#targets = `${this.#key}:targets`;
  }

  /** Record a heartbeat of `name`. */
  async beat(name: string): Promise<void> {
    await this.#call(() => this.#redis.eval(BEAT, 1, this.#key, name));
  }

  /** `name` stopped: it is no longer live (it stays known, so jobs still queued for it are found). */
  async leave(name: string): Promise<void> {
    await this.#call(() => this.#redis.zadd(this.#key, 0, name));
  }

  /** Remember that jobs were targeted at these names (a name never seen alive is found all the same). */
  async remember(names: Iterable<string>): Promise<void> {
    const list = [...new Set(names)];
    if (list.length > 0) await this.#call(() => this.#redis.sadd(this.#targets, ...list));
  }

  /** Every actor known: beating now, beaten once, or only targeted. Sorted by name. */
  async all(): Promise<ActorSeen[]> {
    const [now, scored, targeted] = (await this.#call(() => this.#redis.eval(READ, 2, this.#key, this.#targets))) as [number, string[], string[]];
    const seen = new Map<string, ActorSeen>();
    for (const name of targeted) seen.set(name, { name, ageMs: undefined, live: false });
    for (let i = 0; i + 1 < scored.length; i += 2) {
      const score = Number(scored[i + 1]);
      const ageMs = score > 0 ? Math.max(0, now - score) : undefined;
      seen.set(scored[i]!, { name: scored[i]!, ageMs, live: ageMs !== undefined && ageMs < ACTOR_TTL_MS });
    }
    return [...seen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Names of the live actors. */
  async live(): Promise<string[]> {
    return (await this.all()).filter((a) => a.live).map((a) => a.name);
  }

  /**
   * Names of the live actors, read at most once per `maxAgeMs` (the subscriber asks for
   * every `"all"` event; an actor that just started or stopped is seen a moment later).
   */
  liveCached(maxAgeMs = 1000): Promise<string[]> {
    const now = Date.now();
    if (!this.#cache || now - this.#cache.at >= maxAgeMs) {
      const live = this.live();
      this.#cache = { at: now, live };
      // A failed read is not kept: the next call asks again.
      live.catch(() => (this.#cache = undefined));
    }
    return this.#cache.live;
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new QueueError(`actor registry at ${redact(this.#url)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Close the connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#redis.quit().then(
      () => undefined,
      () => this.#redis.disconnect(),
    );
    return this.#closing;
  }
}
