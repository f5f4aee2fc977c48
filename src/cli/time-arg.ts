import { UsageError } from '../errors.js';
import { parseTimeText } from '../archive/time-text.js';

/**
 * A time from the command line, as {@link parseTimeText} reads it.
 *
 * @throws {UsageError} naming the option when it is neither an ISO time nor a duration
 */
export function parseTimeArg(text: string, option: string, now: number = Date.now()): Date {
  const t = parseTimeText(text, now);
  if (t) return t;
  throw new UsageError(`${option} "${text}" is not a time: give an ISO time (2026-11-30T04:00:00Z) or a duration back from now (30m, 1h, 2d)`);
}
