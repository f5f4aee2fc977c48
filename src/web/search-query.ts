import type { EventQuery } from '../archive/archive.js';

/** The search form's fields as typed, to show them back. */
export interface SearchForm {
  key: string;
  since: string;
  until: string;
  trace: string;
  status: string;
  limit: string;
}

/** A search: the archive query, or the problems found in the form. */
export interface ParsedSearch {
  form: SearchForm;
  query: EventQuery;
  /** One message per field that could not be used (the query leaves it out). */
  problems: string[];
}

export const STATUSES = ['ok', 'error', 'dead'] as const;
/** Most events one search page shows. */
export const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 50;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A time typed in the search form: an ISO 8601 date or time, or a duration back from
 * `now` (`90s`, `30m`, `1h`, `2d`, `1w`). The same grammar as `events ls --since`
 * (cli/time-arg.ts, which this layer may not import; a unit test keeps the two in step).
 */
export function parseSearchTime(text: string, now: number): Date | undefined {
  const d = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (d) return new Date(now - Number(d[1]) * UNITS[d[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return new Date(t);
  }
  return undefined;
}

/** The event search of `/events?key=&since=&until=&trace=&status=&limit=`. */
export function parseSearch(params: URLSearchParams, now: number): ParsedSearch {
  const field = (name: string): string => (params.get(name) ?? '').trim().slice(0, 512);
  const form: SearchForm = {
    key: field('key'),
    since: field('since'),
    until: field('until'),
    trace: field('trace'),
    status: field('status'),
    limit: field('limit'),
  };
  const query: EventQuery = { limit: DEFAULT_LIMIT };
  const problems: string[] = [];
  if (form.key !== '') query.key = form.key;
  if (form.trace !== '') query.trace = form.trace;
  for (const name of ['since', 'until'] as const) {
    if (form[name] === '') continue;
    const t = parseSearchTime(form[name], now);
    if (t) query[name] = t;
    else
      problems.push(
        `${name === 'since' ? 'From' : 'Until'} "${form[name]}" is not a time: give an ISO time (2026-11-30T04:00:00Z) or a duration back from now (30m, 1h, 2d)`,
      );
  }
  if (form.status !== '') {
    if ((STATUSES as readonly string[]).includes(form.status)) query.status = form.status as (typeof STATUSES)[number];
    else problems.push(`Status "${form.status}" is not one of ${STATUSES.join(', ')}`);
  }
  if (form.limit !== '') {
    const n = Number(form.limit);
    if (Number.isInteger(n) && n > 0 && n <= MAX_LIMIT) query.limit = n;
    else problems.push(`Limit "${form.limit}" must be a whole number from 1 to ${MAX_LIMIT}`);
  }
  return { form, query, problems };
}
