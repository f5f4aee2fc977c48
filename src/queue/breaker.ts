import type { Redis } from 'ioredis';
import { entryStateKey } from './queue-registry.js';

/**
 * `breaker`: `failures` failed runs of an entry within `within` seconds open its breaker
 * for `open_for` seconds. The state is in Redis (one hash per entry queue, failures in a
 * sorted set), changed by atomic scripts, so every worker sees the same breaker and a
 * restarted one carries on: opening is decided by the failure that crosses the threshold
 * (one worker wins), closing by the first worker that finds it due. While it is open the
 * entry's queue is paused (BullMQ's pause, also in Redis): its jobs wait, none fails.
 * It closes whole after `open_for` (no half-open trial): the failure count starts again.
 */

/** Returns {1, failures} when this failure opened the breaker, {0, failures} otherwise. */
const FAIL = `
if redis.call('HGET', KEYS[1], 'state') == 'open' then return {0, 0} end
local now = tonumber(ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local n = redis.call('ZCARD', KEYS[2])
if n < tonumber(ARGV[3]) then return {0, n} end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', now, 'until', now + tonumber(ARGV[4]), 'failures', n)
redis.call('HINCRBY', KEYS[1], 'opened', 1)
return {1, n}
`;

/** Close when due (ARGV[2] = 1: close now whatever the time). Returns {1, opened_at, failures} when this call closed it. */
const CLOSE = `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return {0, 0, 0} end
local now = tonumber(ARGV[1])
if ARGV[2] ~= '1' and tonumber(redis.call('HGET', KEYS[1], 'until') or '0') > now then return {0, 0, 0} end
redis.call('HSET', KEYS[1], 'state', 'closed', 'closed_at', now)
return {1, tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0'), tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')}
`;

type BreakerRedis = Redis & {
  erBreakerFail(hash: string, failures: string, now: number, withinMs: number, threshold: number, openForMs: number, member: string): Promise<[number, number]>;
  erBreakerClose(hash: string, now: number, force: string): Promise<[number, number, number]>;
};

/** A breaker's state as kept in Redis. */
export interface BreakerState {
  state: 'open' | 'closed';
  /** Times in ms since the epoch. */
  openedAt?: number;
  until?: number;
  closedAt?: number;
  /** Failures counted when it last opened. */
  failures?: number;
  /** How many times it has opened. */
  opened: number;
}

export interface BreakerSpec {
  failures: number;
  withinS: number;
  openForS: number;
}

/** The breakers of a stack's entry queues, on a shared connection. */
export class Breakers {
  readonly #redis: BreakerRedis;
  readonly #base: string;

  constructor(redis: Redis, base: string) {
    if (!('erBreakerFail' in redis)) {
      redis.defineCommand('erBreakerFail', { numberOfKeys: 2, lua: FAIL });
      redis.defineCommand('erBreakerClose', { numberOfKeys: 1, lua: CLOSE });
    }
    this.#redis = redis as BreakerRedis;
    this.#base = base;
  }

  /** The queue name in braces: both keys of a script in one Redis Cluster slot. */
  #key(queue: string, kind: 'breaker' | 'breaker-failures'): string {
    return entryStateKey(this.#base, `{${queue}}`, kind);
  }

  /** Count a failed run (`member`: its result id, so a run counts once). Returns whether it opened the breaker. */
  async fail(queue: string, spec: BreakerSpec, member: string, now = Date.now()): Promise<{ opened: boolean; failures: number }> {
    const [opened, failures] = await this.#redis.erBreakerFail(
      this.#key(queue, 'breaker'),
      this.#key(queue, 'breaker-failures'),
      now,
      Math.round(spec.withinS * 1000),
      spec.failures,
      Math.round(spec.openForS * 1000),
      member,
    );
    return { opened: opened === 1, failures };
  }

  /** Close it if it is open and due (or at once with `force`: the entry lost its breaker). Returns what it was when this call closed it. */
  async closeIfDue(queue: string, force = false, now = Date.now()): Promise<{ openedAt: number; failures: number; closedAt: number } | undefined> {
    const [closed, openedAt, failures] = await this.#redis.erBreakerClose(this.#key(queue, 'breaker'), now, force ? '1' : '0');
    return closed === 1 ? { openedAt, failures, closedAt: now } : undefined;
  }

  async read(queue: string): Promise<BreakerState> {
    const h = await this.#redis.hgetall(this.#key(queue, 'breaker'));
    const num = (k: string): number | undefined => (h[k] === undefined ? undefined : Number(h[k]));
    const out: BreakerState = { state: h['state'] === 'open' ? 'open' : 'closed', opened: num('opened') ?? 0 };
    for (const [k, field] of [
      ['openedAt', 'opened_at'],
      ['until', 'until'],
      ['closedAt', 'closed_at'],
      ['failures', 'failures'],
    ] as const) {
      const v = num(field);
      if (v !== undefined) out[k] = v;
    }
    return out;
  }
}
