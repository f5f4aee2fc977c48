import { UsageError } from '../errors.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A time from the command line: an ISO 8601 date or time (`2026-11-30`,
 * `2026-11-30T04:00:00Z`), or a duration back from `now` (`90s`, `30m`, `1h`, `2d`, `1w`).
 *
 * @throws {UsageError} naming the option when it is neither
 */
export function parseTimeArg(text: string, option: string, now: number = Date.now()): Date {
  const d = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (d) return new Date(now - Number(d[1]) * UNITS[d[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  throw new UsageError(`${option} "${text}" is not a time: give an ISO time (2026-11-30T04:00:00Z) or a duration back from now (30m, 1h, 2d)`);
}
