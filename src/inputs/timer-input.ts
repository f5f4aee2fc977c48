import type { Redis } from 'ioredis';
import { TransportError, coerceError } from '../errors.js';
import type { TimerInputConfig, TimerSchedule } from '../config/inputs.js';
import { retryDelay } from '../lifecycle/retry-delay.js';
import { RouterUnavailableError } from './forwarder.js';
import { pause, refusalReason, type Input, type InputContext } from './input.js';
import { missedOnStart, tickEventId, tickToFire, ticksOf } from './timer-ticks.js';

/** Longest single wait: setTimeout cannot wait more than 2^31-1 ms. */
const MAX_WAIT_MS = 2 ** 31 - 1;

/**
 * TimerInput: one event per tick of each schedule (timer-ticks.ts), across restarts. The
 * last tick fired of each schedule is kept in Redis (`<queue.prefix>:event-reactor:timer:
 * <input>:<schedule>`), saved once the router has accepted the tick's event. On start, a
 * schedule whose saved tick is older than its latest tick fires that one tick, once, with
 * `late: true` (a schedule never fired before starts with the next tick). Each tick's event
 * has a deterministic id (`timer:<input>:<schedule>:<ISO time>`), so a tick fired twice
 * (a crash between the router's reply and the save, two daemons on one config) is archived
 * once. Events: `event_type` and `payload` from the schedule, `timestamp` the tick time,
 * `schedule`, `tick` (ISO) and `late` when it is.
 */
export class TimerInput implements Input {
  readonly name: string;
  readonly #ctx: InputContext;
  readonly #config: TimerInputConfig;
  readonly #closing = new AbortController();
  readonly #problems = new Map<string, string>();
  #redis: Redis | undefined;
  #loops: Promise<void>[] = [];
  #closed: Promise<void> | undefined;

  constructor(ctx: InputContext, config: TimerInputConfig) {
    this.name = ctx.name;
    this.#ctx = ctx;
    this.#config = config;
  }

  async start(): Promise<void> {
    const { createRedis } = await import('../redis/redis-client.js');
    const redis = createRedis(this.#ctx.settings.redisUrl, { maxRetriesPerRequest: 1, connectionName: 'event-reactor-inputs', lazyConnect: true });
    redis.on('error', () => undefined);
    this.#redis = redis;
    this.#loops = this.#config.schedules.map((s) => this.#run(s));
  }

  ready(): void {
    const problems = [...this.#problems].map(([s, why]) => `${s}: ${why}`);
    if (problems.length > 0) throw new TransportError(problems.join('; '));
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await Promise.allSettled(this.#loops);
      this.#redis?.disconnect();
    })();
    return this.#closed;
  }

  #key(schedule: string): string {
    return `${this.#ctx.settings.queue.prefix}:event-reactor:timer:${this.name}:${schedule}`;
  }

  async #run(s: TimerSchedule): Promise<void> {
    const name = s.name ?? s.event_type;
    const ticks = ticksOf(s);
    const signal = this.#closing.signal;
    try {
      const last = await this.#load(name);
      if (signal.aborted) return;
      let cursor = Date.now();
      const missed = missedOnStart(ticks, last, cursor);
      if (missed !== undefined) {
        await this.#fire(s, name, missed, true);
        cursor = Math.max(cursor, missed);
      }
      this.#ctx.log.info(
        { schedule: name, next: new Date(ticks.next(cursor)).toISOString(), lastFired: last === undefined ? null : new Date(last).toISOString() },
        'schedule started',
      );
      while (!signal.aborted) {
        const due = ticks.next(cursor);
        while (!signal.aborted && Date.now() < due) await pause(Math.min(due - Date.now(), MAX_WAIT_MS), signal);
        if (signal.aborted) return;
        const { tick, late } = tickToFire(ticks, due, Date.now());
        await this.#fire(s, name, tick, late);
        cursor = tick;
      }
    } catch (err) {
      if (!signal.aborted) {
        this.#problems.set(name, `stopped: ${coerceError(err).message}`);
        this.#ctx.log.error({ schedule: name, err: coerceError(err) }, 'schedule stopped');
      }
    }
  }

  /** The last tick fired, from Redis; waits (not ready) while Redis does not answer. */
  async #load(name: string): Promise<number | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        const v = await this.#redis!.get(this.#key(name));
        this.#problems.delete(name);
        return v === null ? undefined : Number(v);
      } catch (err) {
        this.#problems.set(name, `cannot read its last tick from Redis: ${coerceError(err).message}`);
        if (attempt === 1) this.#ctx.log.warn({ schedule: name, err: coerceError(err).message }, 'cannot read the last tick from Redis; retrying');
        await pause(retryDelay(attempt), this.#closing.signal);
        if (this.#closing.signal.aborted) return undefined;
      }
    }
  }

  async #fire(s: TimerSchedule, name: string, tick: number, late: boolean): Promise<void> {
    const event: Record<string, unknown> = {
      id: tickEventId(this.name, name, tick),
      event_type: s.event_type,
      payload: s.payload ?? {},
      timestamp: tick / 1000,
      schedule: name,
      tick: new Date(tick).toISOString(),
      ...(late ? { late: true } : {}),
    };
    this.#ctx.pipe.received();
    try {
      await this.#ctx.pipe.forward(event, { signal: this.#closing.signal });
    } catch (err) {
      if (err instanceof RouterUnavailableError) throw err;
      if (refusalReason(err) === undefined) throw err;
      // Refused (a payload the router will not take): saved all the same, or it would be refused on every start.
    }
    try {
      await this.#redis!.set(this.#key(name), String(tick));
      this.#problems.delete(name);
    } catch (err) {
      this.#problems.set(name, `cannot save its last tick in Redis: ${coerceError(err).message}`);
      this.#ctx.log.warn(
        { schedule: name, err: coerceError(err).message },
        'tick forwarded but not saved in Redis; a restart may fire it again (same id: archived once)',
      );
    }
  }
}
