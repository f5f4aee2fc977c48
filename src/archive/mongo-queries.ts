import type { Db, Document, Filter } from 'mongodb';
import type { HandlerResult } from '../handlers/result.js';
import type { EventDetail, EventOutcome, EventQuery, EventSummary, ReplayQuery, ResultQuery, StoredEvent } from './archive.js';
import { globToRegexSource, isExactKey } from './glob-regex.js';

/**
 * The archive's read-side queries, each answered from an index: `events` by `{key, time}`,
 * `{time}`, `{trace_id}` and `{parent_event}`; `results` by `{event_id}`, `{start}`,
 * `{status, start}`, `{handler, start}`, `{handler_id, start}`, `{key, start}`, `{dead, start}`.
 * (On MongoDB; FerretDB 1.24 on SQLite reads the whole collection for all but `{_id}`:
 * bench/archive-queries.ts measures both.) Collection names are the archive's.
 */
const EVENTS = 'events';
const RESULTS = 'results';
const DEFAULT_LIMIT = 50;
/** `events ls --status ok` filters pages of events by outcome; it reads at most this many pages. */
const MAX_PAGES = 20;
/** Longest parent chain `events show` follows (loops and broken chains stop it earlier). */
const MAX_CHAIN = 64;

function eventFilter(q: { key?: string | undefined; since?: Date | undefined; until?: Date | undefined; trace?: string | undefined }): Filter<Document> {
  const f: Filter<Document> = {};
  if (q.key !== undefined) f['key'] = isExactKey(q.key) ? q.key : { $regex: globToRegexSource(q.key) };
  if (q.since !== undefined || q.until !== undefined) {
    f['time'] = { ...(q.since ? { $gte: q.since } : {}), ...(q.until ? { $lt: q.until } : {}) };
  }
  if (q.trace !== undefined) f['trace_id'] = q.trace;
  return f;
}

/**
 * Per handler of one event, its latest run; and the event's outcome, from those latest
 * runs: a dead letter retried (`dlq retry`) until it ran ok counts as ok.
 */
export function summarise(results: readonly HandlerResult[]): { outcome: EventOutcome; handlers: EventSummary['handlers'] } {
  const byHandler = new Map<string, { latest: HandlerResult; runs: number }>();
  for (const r of results) {
    const seen = byHandler.get(r.handler_id);
    if (!seen) byHandler.set(r.handler_id, { latest: r, runs: 1 });
    else {
      seen.runs++;
      if (r.start >= seen.latest.start) seen.latest = r;
    }
  }
  const handlers = [...byHandler.values()].map(({ latest, runs }) => ({
    handler: latest.handler,
    handler_id: latest.handler_id,
    status: latest.status,
    dead: latest.dead === true,
    runs,
  }));
  const outcome: EventOutcome =
    handlers.length === 0 ? 'none' : handlers.some((h) => h.dead) ? 'dead' : handlers.some((h) => h.status !== 'ok') ? 'error' : 'ok';
  return { outcome, handlers };
}

async function resultsByEvent(db: Db, ids: readonly string[]): Promise<Map<string, HandlerResult[]>> {
  const out = new Map<string, HandlerResult[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const cursor = db.collection<HandlerResult>(RESULTS).find({ event_id: { $in: [...ids] } }, { projection: { data: 0, stderr: 0 } });
  for await (const r of cursor) out.get(r.event_id)?.push(r);
  return out;
}

function summaryOf(e: StoredEvent, results: readonly HandlerResult[]): EventSummary {
  const s: EventSummary = { id: e._id, key: e.key, time: e.time, trace_id: typeof e['trace_id'] === 'string' ? e['trace_id'] : e._id, ...summarise(results) };
  if (typeof e['parent_event'] === 'string') s.parent_event = e['parent_event'];
  return s;
}

/** `events ls`: newest first, each with its handlers' outcomes. */
export async function listEvents(db: Db, q: EventQuery): Promise<EventSummary[]> {
  const limit = q.limit ?? DEFAULT_LIMIT;
  const events = db.collection(EVENTS);
  const projection = { payload: 0, payload_json: 0, extra_json: 0 };
  if (q.status === 'dead' || q.status === 'error') {
    // Start from the results: dead letters and failures are few, and indexed by status.
    const failed: Filter<Document> = q.status === 'dead' ? { dead: true } : { status: { $ne: 'ok' } };
    if (q.since || q.until) failed['start'] = { ...(q.since ? { $gte: q.since } : {}), ...(q.until ? { $lt: q.until } : {}) };
    const ids: string[] = [];
    for await (const r of db
      .collection(RESULTS)
      .find(failed, { projection: { event_id: 1 } })
      .sort({ start: -1 })) {
      const id = String(r['event_id']);
      if (!ids.includes(id)) ids.push(id);
      if (ids.length >= limit * 4) break;
    }
    const found = (await events
      .find({ ...eventFilter(q), _id: { $in: ids as never[] } }, { projection })
      .sort({ time: -1 })
      .toArray()) as unknown as StoredEvent[];
    const runs = await resultsByEvent(
      db,
      found.map((e) => e._id),
    );
    return found
      .map((e) => summaryOf(e, runs.get(e._id) ?? []))
      .filter((s) => s.outcome === q.status)
      .slice(0, limit);
  }
  const out: EventSummary[] = [];
  let before: Date | undefined;
  for (let page = 0; out.length < limit && page < (q.status ? MAX_PAGES : 1); page++) {
    const f = eventFilter(q);
    if (before) f['time'] = { ...(f['time'] as object | undefined), $lt: before };
    const batch = (await events.find(f, { projection }).sort({ time: -1 }).limit(limit).toArray()) as unknown as StoredEvent[];
    if (batch.length === 0) break;
    const runs = await resultsByEvent(
      db,
      batch.map((e) => e._id),
    );
    for (const e of batch) {
      const s = summaryOf(e, runs.get(e._id) ?? []);
      if (!q.status || s.outcome === q.status) out.push(s);
    }
    before = batch.at(-1)!.time;
    if (batch.length < limit) break;
  }
  return out.slice(0, limit);
}

/** `events show`: the event, its runs, its follow-ups and its chain up to the trace's first event. */
export async function eventDetail(db: Db, id: string): Promise<EventDetail | undefined> {
  const events = db.collection(EVENTS);
  const event = (await events.findOne({ _id: id as never })) as StoredEvent | null;
  if (!event) return undefined;
  const runs = (await db.collection<HandlerResult>(RESULTS).find({ event_id: id }).sort({ start: 1 }).toArray()) as HandlerResult[];
  const followUps = (await events.find({ parent_event: id }).sort({ time: 1 }).toArray()) as unknown as StoredEvent[];
  const chain: StoredEvent[] = [event];
  const seen = new Set([id]);
  for (let parent = event['parent_event']; typeof parent === 'string' && !seen.has(parent) && chain.length < MAX_CHAIN;) {
    seen.add(parent);
    const up = (await events.findOne({ _id: parent as never }, { projection: { payload: 0 } })) as StoredEvent | null;
    if (!up) break;
    chain.unshift(up);
    parent = up['parent_event'];
  }
  return { event, runs, followUps, chain };
}

/** `results ls`: newest first. */
export async function listResults(db: Db, q: ResultQuery): Promise<HandlerResult[]> {
  const f: Filter<Document> = {};
  if (q.handler !== undefined) f['$or'] = [{ handler: q.handler }, { handler_id: q.handler }, { key: q.handler }];
  if (q.status === 'dead') f['dead'] = true;
  else if (q.status !== undefined) f['status'] = q.status;
  if (q.since) f['start'] = { $gte: q.since };
  return (await db
    .collection(RESULTS)
    .find(f)
    .sort({ start: -1 })
    .limit(q.limit ?? DEFAULT_LIMIT)
    .toArray()) as unknown as HandlerResult[];
}

/** The events `replay` fires again, oldest first, streamed. */
export function eventsToReplay(db: Db, q: ReplayQuery): AsyncIterable<StoredEvent> {
  const f = eventFilter(q);
  if (q.ids && q.ids.length > 0) f['_id'] = { $in: [...q.ids] as never[] };
  return db.collection(EVENTS).find(f).sort({ time: 1, _id: 1 }) as unknown as AsyncIterable<StoredEvent>;
}
