import type { EventQuery } from '../archive/archive.js';
import { parseTimeText } from '../archive/time-text.js';

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
    const t = parseTimeText(form[name], now);
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
