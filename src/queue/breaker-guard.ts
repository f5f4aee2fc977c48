import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import { coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { counter } from '../metrics.js';
import type { FireFunction } from '../handlers/driver.js';
import type { HandlerSpec } from '../handlers/spec.js';
import { Breakers } from './breaker.js';

/** Longest handler command kept as a metric label (the worker's duration histogram too). */
export const HANDLER_LABEL_CHARS = 120;

/** An entry's queue as the guard sees it. */
export interface GuardedQueue {
  name: string;
  queue: Pick<Queue, 'pause' | 'resume' | 'isPaused'>;
  /** The entry of the worker's table; undefined for a queue it only drains. */
  spec: HandlerSpec | undefined;
}

export interface BreakerGuardOptions {
  redis: Redis;
  /** `queue.name` of the stack. */
  base: string;
  /** Sends `reactor:breaker.open` / `reactor:breaker.closed` through the router. */
  fire: FireFunction;
  log: Logger;
  registry: Registry;
}

/**
 * What a worker does about its entries' breakers (state in breaker.ts): count failed
 * runs, pause an entry's queue when its breaker opens and resume it when it closes, fire
 * the events that say so, and keep the metrics.
 */
export class BreakerGuard {
  readonly #breakers: Breakers;
  readonly #o: BreakerGuardOptions;
  readonly #transitions;
  readonly #open: Gauge<'queue' | 'handler'>;

  constructor(options: BreakerGuardOptions) {
    this.#o = options;
    this.#breakers = new Breakers(options.redis, options.base);
    this.#transitions = counter(options.registry, 'worker_breaker_transitions_total', 'Breakers this worker opened or closed', ['state']);
    this.#open = new Gauge({
      name: 'worker_breaker_open',
      help: 'Entries whose breaker is open (their queue paused), by queue and handler, as last seen by this worker',
      labelNames: ['queue', 'handler'],
      registers: [options.registry],
    });
  }

  /**
   * Close an open breaker that is due, and keep the queue paused while it is open (a
   * worker that opened it may have died before pausing). One read a second per entry with
   * a breaker. An entry without one (removed, or never had one) and a queue this worker
   * only drains (its entry gone) are looked at when `policyChanged` (a lane's first sync
   * counts) and at each `sweep`: a breaker left open there is closed at once and a pause
   * it left is lifted, or its jobs would wait for good. A `sweep` also lifts a pause that
   * landed after its breaker closed (sent during a network cut, say).
   */
  async check(q: GuardedQueue, policyChanged: boolean, sweep = false): Promise<void> {
    const breaker = q.spec?.policy?.breaker;
    if (!breaker) {
      if (!policyChanged && !sweep) return;
      const closed = await this.#breakers.closeIfDue(q.name, true);
      if (closed) await this.#closed(q, closed, undefined);
      else if (await q.queue.isPaused()) {
        await q.queue.resume();
        this.#o.log.warn({ queue: q.name, handler: q.spec?.command }, 'queue paused by a breaker the entry no longer has: resumed');
      }
      if (q.spec) this.#gauge(q, false);
      return;
    }
    const state = await this.#breakers.read(q.name);
    if (state.state !== 'open') {
      // A worker opening the breaker right now pauses after this read: the next check (a
      // second later) sees it open and pauses again if this resumed it.
      if (sweep && (await q.queue.isPaused())) {
        await q.queue.resume();
        this.#o.log.warn({ queue: q.name, handler: q.spec?.command }, 'queue paused while its breaker is closed: resumed');
      }
      return this.#gauge(q, false);
    }
    const closed = await this.#breakers.closeIfDue(q.name);
    if (!closed) {
      // Not due; or another worker closed it (and resumed the queue) since the read above:
      // read again, or this would pause a queue whose breaker is closed.
      const open = (await this.#breakers.read(q.name)).state === 'open';
      this.#gauge(q, open);
      if (open && !(await q.queue.isPaused())) await q.queue.pause();
      return;
    }
    await this.#closed(q, closed, breaker.openForS);
  }

  /** This worker closed the breaker: the queue runs again, and an event says so. */
  async #closed(q: GuardedQueue, closed: { openedAt: number; failures: number; closedAt: number }, openForS: number | undefined): Promise<void> {
    await q.queue.resume();
    this.#transitions.inc({ state: 'closed' });
    this.#o.log.warn({ queue: q.name, handler: q.spec?.command, key: q.spec?.key }, 'breaker closed: the queue runs again');
    this.#fire('breaker.closed', q, {
      failures: closed.failures,
      opened_at: new Date(closed.openedAt).toISOString(),
      closed_at: new Date(closed.closedAt).toISOString(),
      ...(openForS === undefined ? {} : { open_for: openForS }),
    });
    if (q.spec) this.#gauge(q, false);
  }

  /** A failed run (`resultId`: counted once) of an entry: the failure that opens its breaker pauses the queue and says so. */
  async failed(q: GuardedQueue, resultId: string, log: Logger): Promise<void> {
    const breaker = q.spec?.policy?.breaker;
    if (!breaker) return;
    try {
      const now = Date.now();
      const { opened, failures } = await this.#breakers.fail(q.name, breaker, resultId, now);
      if (!opened) return;
      await q.queue.pause();
      this.#transitions.inc({ state: 'open' });
      this.#gauge(q, true);
      log.warn({ queue: q.name, failures, openForS: breaker.openForS }, 'breaker open: the queue is paused, its jobs wait');
      this.#fire('breaker.open', q, {
        failures,
        within: breaker.withinS,
        open_for: breaker.openForS,
        opened_at: new Date(now).toISOString(),
        until: new Date(now + breaker.openForS * 1000).toISOString(),
      });
    } catch (err) {
      log.warn({ err: coerceError(err) }, 'cannot count the failure for the breaker');
    }
  }

  #gauge(q: GuardedQueue, open: boolean): void {
    this.#open.set({ queue: q.name, handler: (q.spec?.command ?? '').slice(0, HANDLER_LABEL_CHARS) }, open ? 1 : 0);
  }

  #fire(type: 'breaker.open' | 'breaker.closed', q: GuardedQueue, figures: Record<string, unknown>): void {
    const spec = q.spec;
    const payload = { queue: q.name, key: spec?.key, handler: spec?.command, handler_id: spec?.id, driver: spec?.driver, ...figures };
    this.#o
      .fire({ namespace: 'reactor', event_type: type, payload })
      .catch((err: unknown) => this.#o.log.warn({ err: coerceError(err), queue: q.name, event: type }, 'cannot fire the breaker event'));
  }
}
