import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { lookup, parseSteps } from '../rules/event-path.js';
import type { ReactorEvent } from '../event/event.js';
import { entryStateKey } from './queue-registry.js';

/**
 * `order_by`: events of one entry with the same value at a path run one after another,
 * in the order the subscriber enqueued them (the router's order, for one router).
 *
 * BullMQ reorders jobs (retries and delays, several workers taking jobs at once), so the
 * order is kept by tickets, one hash per (entry queue, value) in Redis:
 * - at enqueue, each job gets the next number of its group (`next`), idempotently per
 *   job id (a batch enqueued twice gets the same tickets);
 * - a worker runs a job only when its ticket is the group's `run`; a later one goes back
 *   to the delayed set without using an attempt and is promoted when its turn comes (and
 *   polls every few seconds, in case that promotion was missed);
 * - a job done for good (ok, dead, refused, superseded, already ran) advances `run`;
 *   one being retried keeps it, so the events after it wait for its last attempt;
 * - a ticket whose job never reached the queue (the enqueue failed and the event was not
 *   enqueued again) or is already finished is skipped after {@link HOLE_GRACE_MS}.
 * A job whose ticket already passed (`dlq retry` of a dead one) runs at once, out of order.
 */

/** How long a ticket without a job in the queue holds its group before it is skipped. */
export const HOLE_GRACE_MS = 30_000;

/** First ticket is 1; `run` is the ticket allowed to run. Returns the job's ticket. */
const ASSIGN = `
local seq = redis.call('HGET', KEYS[1], 'j:' .. ARGV[1])
if seq then return tonumber(seq) end
seq = redis.call('HINCRBY', KEYS[1], 'next', 1)
redis.call('HSETNX', KEYS[1], 'run', 1)
redis.call('HSET', KEYS[1], 'j:' .. ARGV[1], seq, 's:' .. seq, ARGV[1], 't:' .. seq, ARGV[2])
return seq
`;

/** Returns {run, job id holding run or false, when it was assigned}. */
const PEEK = `
local run = redis.call('HGET', KEYS[1], 'run')
if not run then return {0, false, 0} end
return {tonumber(run), redis.call('HGET', KEYS[1], 's:' .. run) or false, tonumber(redis.call('HGET', KEYS[1], 't:' .. run) or '0')}
`;

/** Ticket ARGV[1] is done: forget it; if it was `run`, advance. Returns the job id of the new `run`, or false. */
const ADVANCE = `
local seq = tonumber(ARGV[1])
local jid = redis.call('HGET', KEYS[1], 's:' .. seq)
redis.call('HDEL', KEYS[1], 's:' .. seq, 't:' .. seq)
if jid then redis.call('HDEL', KEYS[1], 'j:' .. jid) end
local run = tonumber(redis.call('HGET', KEYS[1], 'run') or '0')
if run ~= seq then return false end
run = run + 1
if tonumber(redis.call('HGET', KEYS[1], 'next') or '0') < run then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('HSET', KEYS[1], 'run', run)
return redis.call('HGET', KEYS[1], 's:' .. run) or false
`;

type TicketRedis = Redis & {
  erOrderAssign(key: string, jobId: string, now: number): Promise<number>;
  erOrderPeek(key: string): Promise<[number, string | null, number]>;
  erOrderAdvance(key: string, seq: number): Promise<string | null>;
};

/** A job's place in its group, carried in the job's data. */
export interface OrderTicket {
  /** Hash of the value at the entry's `order_by` path. */
  group: string;
  seq: number;
}

/** The group of an event: a hash of the JSON of its value at `path` (events without one share a group). */
export function orderGroup(event: ReactorEvent, path: string): string {
  const value = lookup(event, parseSteps(path));
  return createHash('sha256')
    .update(JSON.stringify(value ?? null))
    .digest('hex')
    .slice(0, 24);
}

/** Tickets on a shared connection (see the module comment). */
export class OrderTickets {
  readonly #redis: TicketRedis;
  readonly #base: string;

  constructor(redis: Redis, base: string) {
    if (!('erOrderAssign' in redis)) {
      redis.defineCommand('erOrderAssign', { numberOfKeys: 1, lua: ASSIGN });
      redis.defineCommand('erOrderPeek', { numberOfKeys: 1, lua: PEEK });
      redis.defineCommand('erOrderAdvance', { numberOfKeys: 1, lua: ADVANCE });
    }
    this.#redis = redis as TicketRedis;
    this.#base = base;
  }

  #key(queue: string, group: string): string {
    return entryStateKey(this.#base, 'order', queue, group);
  }

  /** The job's ticket in its group (the same one when asked again for the same job id). */
  async assign(queue: string, group: string, jobId: string): Promise<number> {
    return this.#redis.erOrderAssign(this.#key(queue, group), jobId, Date.now());
  }

  /** The ticket allowed to run, the job holding it and when it was assigned; `run` 0 when the group has none outstanding. */
  async peek(queue: string, t: OrderTicket): Promise<{ run: number; jobId: string | null; assignedAt: number }> {
    const [run, jobId, assignedAt] = await this.#redis.erOrderPeek(this.#key(queue, t.group));
    return { run, jobId, assignedAt };
  }

  /** The ticket is done for good; returns the id of the job whose turn it is now, if any. */
  async advance(queue: string, t: OrderTicket): Promise<string | null> {
    return this.#redis.erOrderAdvance(this.#key(queue, t.group), t.seq);
  }

  /** Skip the ticket `run` (a hole): as {@link advance} for it. */
  async skip(queue: string, group: string, run: number): Promise<string | null> {
    return this.#redis.erOrderAdvance(this.#key(queue, group), run);
  }
}

/**
 * What a worker does with a job holding ticket `seq` when the group's state is `run`:
 * `run` it (its turn, or its turn passed long ago), `wait`, or `skip-hole` first (the
 * ticket ahead has no job to run, or one already finished).
 */
export function orderVerdict(seq: number, head: { run: number; assignedAt: number; state: string | undefined }, now: number): 'run' | 'wait' | 'skip-hole' {
  if (head.run === 0 || seq <= head.run) return 'run';
  if (head.state === 'completed' || head.state === 'failed') return 'skip-hole';
  if ((head.state === undefined || head.state === 'unknown') && now - head.assignedAt >= HOLE_GRACE_MS) return 'skip-hole';
  return 'wait';
}
