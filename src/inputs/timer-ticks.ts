import { createHash } from 'node:crypto';
import { CronExpressionParser } from 'cron-parser';
import type { TimerSchedule } from '../config/inputs.js';

/**
 * The ticks of a TimerInput schedule, as pure functions of time (unit-tested without
 * waiting): `every: N` ticks at the multiples of N seconds since the Unix epoch (so a
 * restart keeps the same ticks); `cron` at the expression's times in its `timezone` (UTC
 * by default), seconds optional (5 fields: at second 0).
 */
export interface Ticks {
  /** The first tick strictly after `afterMs`. */
  next(afterMs: number): number;
  /** The last tick at or before `atMs`, if there is one. */
  latest(atMs: number): number | undefined;
}

export function ticksOf(s: Pick<TimerSchedule, 'cron' | 'every' | 'timezone'>): Ticks {
  if (s.every !== undefined) {
    const period = s.every * 1000;
    return { next: (after) => (Math.floor(after / period) + 1) * period, latest: (at) => Math.floor(at / period) * period };
  }
  const expression = s.cron!;
  const tz = s.timezone ?? 'UTC';
  return {
    next: (after) =>
      CronExpressionParser.parse(expression, { currentDate: new Date(after), tz })
        .next()
        .getTime(),
    latest: (at) => {
      try {
        return CronExpressionParser.parse(expression, { currentDate: new Date(at + 1), tz })
          .prev()
          .getTime();
      } catch {
        return undefined;
      }
    },
  };
}

/** What to fire when a schedule starts: the latest tick missed since `lastFired`, once, marked late; none on a first start. */
export function missedOnStart(ticks: Ticks, lastFired: number | undefined, now: number): number | undefined {
  if (lastFired === undefined) return undefined;
  const latest = ticks.latest(now);
  return latest !== undefined && latest > lastFired ? latest : undefined;
}

/**
 * The tick to fire after waking for `due`: `due` itself, or, when the wait ran long (the
 * router did not answer for a while), the latest tick since, once: the ticks in between
 * are not fired.
 */
export function tickToFire(ticks: Ticks, due: number, now: number): { tick: number; late: boolean } {
  const latest = ticks.latest(now);
  return latest !== undefined && latest > due ? { tick: latest, late: true } : { tick: due, late: false };
}

/**
 * The event id of one tick: the same for every try and every restart, so a tick fired
 * twice (a crash between the router's reply and saving the state) is archived once.
 */
export function tickEventId(input: string, schedule: string, tick: number): string {
  const iso = new Date(tick).toISOString();
  const id = `timer:${input}:${schedule}:${iso}`;
  return id.length <= 128 ? id : `timer:${createHash('sha1').update(`${input}\0${schedule}`).digest('hex').slice(0, 20)}:${iso}`;
}
