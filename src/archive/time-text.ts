const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A time as people type it to query the archive (`events ls --since`, the console's
 * search): an ISO 8601 date or time (`2026-11-30`, `2026-11-30T04:00:00Z`), or a duration
 * back from `now` (`90s`, `30m`, `1h`, `2d`, `1w`). Undefined when it is neither.
 */
export function parseTimeText(text: string, now: number = Date.now()): Date | undefined {
  const d = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (d) return new Date(now - Number(d[1]) * UNITS[d[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  return undefined;
}
