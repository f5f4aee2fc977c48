import type { Redis } from 'ioredis';
import { createRedis } from '../redis/redis-client.js';
import type { ReactorEvent } from '../event/event.js';
import { lookup } from '../rules/event-path.js';
import type { StatefulDecision } from '../rules/explain.js';
import type { CorrelationSpec, DebounceSpec, EventPath, IfSpec, RegisterCondition, RegisterSpec, ThrottleSpec } from '../rules/stateful-specs.js';
import { CORRELATE, REGISTER_ADD, THROTTLE } from './scripts.js';

/** The rules state's key prefix for a stack (its queue name): stacks sharing a Redis keep apart. */
export function rulesPrefix(queueName: string): string {
  return `er:rules:${queueName}`;
}

/** Options for {@link RuleState}. */
export interface RuleStateOptions {
  redisUrl: string;
  /** Key prefix in Redis; default `er:rules`. Several stacks on one Redis need their own. */
  prefix?: string;
  /** Clock in ms; for tests. */
  now?: () => number;
}

/** A register series' aggregates after an event was added. */
export interface SeriesStats {
  count: number;
  sum: number;
  min: number;
  max: number;
  first: { value: number; at: number };
  last: { value: number; at: number };
}

/** Why an event fed no sample to a register. */
export type SkippedSample = { register: string; reason: 'missing' | 'not_a_number'; path: string };

const REGISTER_TTL_FLOOR_MS = 3_600_000;

/**
 * The state of the stateful rules, kept in Redis so several subscribers share it and a
 * restart keeps it: register series, throttles, debounces and partial correlations. Every
 * update is one atomic script and idempotent per event id, so a batch retried after a
 * failure, or an event replayed by two subscribers, counts once.
 */
/** The connection with the scripts defined as commands. */
interface ScriptedRedis extends Redis {
  erRegister(key: string, ...args: (string | number)[]): Promise<string[]>;
  erThrottle(key: string, eventId: string, periodMs: number): Promise<[number, number?, string?]>;
  erCorrelate(key: string, fired: string, ...args: (string | number)[]): Promise<(number | string)[]>;
}

export class RuleState {
  readonly #redis: ScriptedRedis;
  readonly #prefix: string;
  readonly #now: () => number;
  #closing: Promise<void> | undefined;

  constructor(options: RuleStateOptions) {
    this.#redis = createRedis(options.redisUrl, { maxRetriesPerRequest: null, connectionName: 'event-reactor-rules', lazyConnect: true }) as ScriptedRedis;
    this.#redis.on('error', () => undefined); // commands report their own failures
    this.#redis.defineCommand('erRegister', { numberOfKeys: 1, lua: REGISTER_ADD });
    this.#redis.defineCommand('erThrottle', { numberOfKeys: 1, lua: THROTTLE });
    this.#redis.defineCommand('erCorrelate', { numberOfKeys: 2, lua: CORRELATE });
    this.#prefix = options.prefix ?? 'er:rules';
    this.#now = options.now ?? Date.now;
  }

  /**
   * Feed `event` to every register whose key matches it. A missing or non-numeric value
   * adds nothing and is reported (the caller counts it).
   */
  async feed(event: ReactorEvent, key: string, registers: Iterable<RegisterSpec>): Promise<SkippedSample[]> {
    const skipped: SkippedSample[] = [];
    for (const r of registers) {
      if (!r.key.test(key)) continue;
      const raw = lookup(event, r.value.steps);
      const value = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (raw === undefined) skipped.push({ register: r.name, reason: 'missing', path: r.value.text });
      else if (!Number.isFinite(value)) skipped.push({ register: r.name, reason: 'not_a_number', path: r.value.text });
      else await this.#series(r, groupOf(r.by, event), `${event.id}\u0000${value}`, 0, true);
    }
    return skipped;
  }

  /** A register series' aggregates, without adding anything (for `test-event`). */
  stats(r: RegisterSpec, event: ReactorEvent, periodS?: number): Promise<SeriesStats> {
    return this.read(r, groupOf(r.by, event), periodS);
  }

  /** A register's aggregates for one group, over its window or the last `periodS` seconds of it. */
  read(r: RegisterSpec, group: string, periodS?: number): Promise<SeriesStats> {
    return this.#series(r, group, '', periodS ? Math.round(periodS * 1000) : 0, false);
  }

  /**
   * Add `value` to a register's group, as a handler does (`ctx.registers.add`); `sampleId`
   * makes it idempotent (a retried run adding the same sample counts once). Returns the
   * aggregates after it.
   */
  add(r: RegisterSpec, group: string, sampleId: string, value: number): Promise<SeriesStats> {
    return this.#series(r, group, `${sampleId}\u0000${value}`, 0, true);
  }

  /** Decide an entry's `if` for `event`'s group (after the event was fed). */
  async decideIf(spec: IfSpec, event: ReactorEvent): Promise<StatefulDecision> {
    const results: { c: RegisterCondition; value: number | undefined; count: number; pass: boolean }[] = [];
    for (const c of spec.conditions) {
      const s = await this.stats(c.register, event, c.periodS);
      const value = aggregate(c.agg, s);
      const pass = s.count >= c.minSamples && value !== undefined && compare(value, c.op, c.value);
      results.push({ c, value, count: s.count, pass });
    }
    const pass = spec.mode === 'all' ? results.every((r) => r.pass) : results.some((r) => r.pass);
    const shown = results.map((r) =>
      r.count < r.c.minSamples
        ? `${r.c.register.name}: ${r.count} of ${r.c.minSamples} samples needed`
        : `${r.c.agg}(${r.c.register.name}) = ${r.value === undefined ? 'none' : round(r.value)} ${r.pass ? '' : 'not '}${r.c.op} ${r.c.value}`,
    );
    return {
      stage: 'if',
      pass,
      reason: `${spec.mode === 'all' ? 'all of' : 'any of'}: ${shown.join('; ')}`,
      details: {
        conditions: results.map((r) => ({
          register: r.c.register.name,
          agg: r.c.agg,
          op: r.c.op,
          value: r.c.value,
          actual: r.value ?? null,
          samples: r.count,
          pass: r.pass,
        })),
      },
    };
  }

  /**
   * Decide a `throttle` for `event`: the first event of its group in each period passes
   * (and takes the period); the same event again passes again (a retried batch).
   * With `peek`, nothing is taken (for `test-event`).
   */
  async throttle(handlerId: string, spec: ThrottleSpec, event: ReactorEvent, peek = false): Promise<StatefulDecision> {
    const group = groupOf(spec.by, event);
    const key = `${this.#prefix}:thr:${handlerId}:${group}`;
    const periodMs = Math.round(spec.oncePerS * 1000);
    if (peek) {
      const [holder, ttl] = await Promise.all([this.#redis.get(key), this.#redis.pttl(key)]);
      return holder === null || holder === event.id
        ? { stage: 'throttle', pass: true, reason: `no run of group ${group} in the last ${spec.oncePerS} s` }
        : {
            stage: 'throttle',
            pass: false,
            reason: `throttled: event ${holder} ran for group ${group}; next run allowed in ${Math.ceil(ttl / 1000)} s`,
            details: { group, holder, remainingMs: ttl },
          };
    }
    const r = await this.#redis.erThrottle(key, event.id, periodMs);
    if (r[0] === 1) return { stage: 'throttle', pass: true, reason: `first of group ${group} in ${spec.oncePerS} s`, details: { group } };
    return {
      stage: 'throttle',
      pass: false,
      reason: `throttled: event ${r[2]} ran for group ${group}; next run allowed in ${Math.ceil((r[1] ?? 0) / 1000)} s`,
      details: { group, holder: r[2], remainingMs: r[1] },
    };
  }

  /**
   * Debounce: mark `event` as the latest of its group; the job runs after `quiet` seconds
   * and only if it is still the latest then ({@link isLatest}).
   */
  async debounce(handlerId: string, spec: DebounceSpec, event: ReactorEvent): Promise<{ delayMs: number; group: string; key: string }> {
    const group = groupOf(spec.by, event);
    const key = `${this.#prefix}:deb:${handlerId}:${group}`;
    const delayMs = Math.round(spec.quietS * 1000);
    await this.#redis.set(key, event.id, 'PX', delayMs * 2 + 60_000);
    return { delayMs, group, key };
  }

  /** True when `eventId` is still the latest event of its debounce group. */
  async isLatest(debounceKey: string, eventId: string): Promise<boolean> {
    // Gone (expired while the job waited in a backlog): no later event replaced it, so it runs.
    const latest = await this.#redis.get(debounceKey);
    return latest === null || latest === eventId;
  }

  /**
   * Record `event` in every correlation one of whose keys matches it; for each that is now
   * complete (atomically, so once across subscribers), the ids of the events that made it.
   */
  async correlate(
    event: ReactorEvent,
    key: string,
    correlations: readonly CorrelationSpec[],
  ): Promise<{ spec: CorrelationSpec; group: string; ids: string[] }[]> {
    const done: { spec: CorrelationSpec; group: string; ids: string[] }[] = [];
    for (const c of correlations) {
      const index = c.keys.findIndex((k) => k.test(key));
      if (index < 0) continue;
      const group = groupOf(c.by, event);
      // The script takes both keys: a hash tag keeps them in one Redis Cluster slot (both
      // begin with `base`, which holds a `{`...`}`, so their first tag is the same).
      const base = `${this.#prefix}:cor:{${c.name}:${group}}`;
      const r = await this.#redis.erCorrelate(base, `${base}:fired`, event.id, index, this.#now(), Math.round(c.withinS * 1000), c.keys.length, c.mode);
      if (r[0] === 1) done.push({ spec: c, group, ids: r.slice(1).map(String) });
    }
    return done;
  }

  async #series(r: RegisterSpec, group: string, member: string, periodMs: number, add: boolean): Promise<SeriesStats> {
    const key = `${this.#prefix}:reg:${r.name}:${group}`;
    const windowMs = r.windowS ? Math.round(r.windowS * 1000) : 0;
    const ttl = Math.max(windowMs * 2, REGISTER_TTL_FLOOR_MS);
    const out = await this.#redis.erRegister(key, this.#now(), member, windowMs, r.samples ?? 0, ttl, periodMs, add ? 1 : 0);
    const n = out.map(Number);
    return { count: n[0]!, sum: n[1]!, min: n[2]!, max: n[3]!, first: { value: n[4]!, at: n[5]! }, last: { value: n[6]!, at: n[7]! } };
  }

  /** Close the Redis connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#redis.quit().then(
      () => undefined,
      () => this.#redis.disconnect(),
    );
    return this.#closing;
  }
}

/** The group an event belongs to under `by`: the JSON of the value there, `-` without `by`, `?` when the event has none. */
export function groupOf(by: EventPath | undefined, event: ReactorEvent): string {
  if (!by) return '-';
  const v = lookup(event, by.steps);
  if (v === undefined) return '?';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The aggregate of a series; undefined when it has no sample. */
export function aggregate(agg: RegisterCondition['agg'], s: SeriesStats): number | undefined {
  if (agg === 'count') return s.count;
  if (s.count === 0) return undefined;
  switch (agg) {
    case 'avg':
      return s.sum / s.count;
    case 'min':
      return s.min;
    case 'max':
      return s.max;
    case 'sum':
      return s.sum;
    case 'last':
      return s.last.value;
    case 'rate':
      // Change of the value per second from the first sample to the last (as a counter's rate).
      return s.last.at > s.first.at ? ((s.last.value - s.first.value) * 1000) / (s.last.at - s.first.at) : 0;
  }
}

export function compare(a: number, op: RegisterCondition['op'], b: number): boolean {
  switch (op) {
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
