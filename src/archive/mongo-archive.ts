import { MongoBulkWriteError, MongoClient, MongoServerError, type Collection, type Db, type Document, type IndexDescription } from 'mongodb';
import { ArchiveError } from '../errors.js';
import { eventKey, type ReactorEvent } from '../event/event.js';
import type { Logger } from '../logger.js';
import type {
  Archive,
  ArchiveReader,
  ArchiveStats,
  Cursor,
  EventDetail,
  EventQuery,
  EventSummary,
  GapRecord,
  InsertedEvents,
  ReplayQuery,
  ResultQuery,
  StoredEvent,
} from './archive.js';
import { eventDetail, eventsToReplay, listEvents, listResults } from './mongo-queries.js';
import { finalResults } from './final-results.js';
import { applyRetention, prune, type PruneReport, type RetentionMode } from './retention.js';
import type { MongoReadPreference, MongoSettings, Retention } from '../config/settings.js';
import type { HandlerResult } from '../handlers/result.js';
import { redact } from '../redact.js';

export const EVENTS_COLLECTION = 'events';
export const RESULTS_COLLECTION = 'results';
export const CURSORS_COLLECTION = 'cursors';
export const GAPS_COLLECTION = 'gaps';
/** Events whose id was already archived with other content. */
export const CONFLICTS_COLLECTION = 'conflicts';
/** Events and results the server refused even as JSON text, kept as text. */
export const REJECTED_COLLECTION = 'rejected';

export interface MongoArchiveOptions {
  url: string;
  database: string;
  log: Logger;
  /** How long to wait for the server when connecting and per operation; default 10000 ms. */
  serverSelectionTimeoutMS?: number;
  /**
   * Create the collections' indexes when missing; default true. Readers (the CLI) pass
   * false: they must not change the archive, and may lack the right to.
   */
  ensureIndexes?: boolean;
  /** Archive retention, applied with the indexes (TTL indexes where the server has them). */
  retention?: Retention;
  /** Write concern of every write (`mongodb.write_concern`); wins over the connection string's. Unset: the connection string's. */
  writeConcern?: MongoSettings['writeConcern'];
  /** Read preference (`mongodb.read_preference`); wins over the connection string's. Unset: the connection string's, else primary. */
  readPreference?: MongoReadPreference | undefined;
}

/** Indexes of `events` besides `_id` (the bench's insert baseline builds the same). */
export const EVENT_INDEXES: readonly IndexDescription[] = [
  { key: { key: 1, time: -1 }, name: 'key_time' },
  { key: { time: -1 }, name: 'time' },
  { key: { trace_id: 1 }, name: 'trace_id' },
  { key: { parent_event: 1 }, name: 'parent_event', sparse: true },
];

/**
 * Indexes of `results` besides `_id`. `start` answers `results ls` and `results ls --since`
 * (newest first, no other filter: without it MongoDB reads every result and sorts them);
 * `handler_id_start` lets `results ls --handler`'s `$or` (command, id or key) use an index
 * for every branch, as MongoDB needs to use one for any (bench/archive-queries.ts).
 * `one_ok_per_job`: an ok result carries `ok_job` (its job id), unique, so a job has one
 * ok result whatever its runs do: a run cut off from the network whose result reaches
 * the server after another run of the job stored its own is refused as a duplicate
 * (sparse: other results, and results stored before this index, have no `ok_job`).
 */
export const RESULT_INDEXES: readonly IndexDescription[] = [
  { key: { event_id: 1 }, name: 'event_id' },
  { key: { key: 1, start: -1 }, name: 'key_start' },
  { key: { status: 1, start: -1 }, name: 'status_start' },
  { key: { handler: 1, start: -1 }, name: 'handler_start' },
  { key: { handler_id: 1, start: -1 }, name: 'handler_id_start' },
  { key: { start: -1 }, name: 'start' },
  { key: { dead: 1, start: -1 }, name: 'dead_start', sparse: true },
  { key: { ok_job: 1 }, name: 'one_ok_per_job', unique: true, sparse: true },
];

const KNOWN_EVENT_FIELDS = new Set(['id', 'namespace', 'event_type', 'payload', 'timestamp', 'trace_id', 'parent_event', 'seq', 'epoch']);
const DUPLICATE_KEY = 11000;
const NAMESPACE_NOT_FOUND = 26;

/**
 * MongoDB archive. `events` holds one document per event (`_id` = event id), `results`
 * one per handler attempt. Works on MongoDB and on FerretDB.
 */
export class MongoArchive implements Archive, ArchiveReader {
  readonly #client: MongoClient;
  readonly #db: Db;
  readonly #log: Logger;
  readonly events: Collection<Document>;
  readonly results: Collection<HandlerResult>;
  /** How retention is enforced here: TTL indexes, `archive prune`, or nothing to enforce. Set by connect(). */
  retentionMode: RetentionMode = 'keep';
  #closing: Promise<void> | undefined;

  private constructor(client: MongoClient, database: string, log: Logger) {
    this.#client = client;
    this.#db = client.db(database);
    this.#log = log;
    this.events = this.#db.collection(EVENTS_COLLECTION);
    this.results = this.#db.collection<HandlerResult>(RESULTS_COLLECTION);
  }

  /** Connect and make sure the indexes exist. */
  static async connect(options: MongoArchiveOptions): Promise<MongoArchive> {
    const client = new MongoClient(options.url, {
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 10_000,
      appName: 'event-reactor',
      // Options given here win over the same options in the connection string.
      ...(options.writeConcern ? { writeConcern: options.writeConcern } : {}),
      ...(options.readPreference ? { readPreference: options.readPreference } : {}),
    });
    try {
      await client.connect();
      const archive = new MongoArchive(client, options.database, options.log);
      if (options.ensureIndexes ?? true) {
        await archive.#ensureIndexes();
        archive.retentionMode = await applyRetention(archive.#db, options.retention ?? {}, options.log);
      }
      return archive;
    } catch (err) {
      await client.close().catch(() => undefined);
      throw new ArchiveError(`cannot connect to MongoDB at ${redact(options.url)}: ${(err as Error).message}`, { cause: err });
    }
  }

  get db(): Db {
    return this.#db;
  }

  async #ensureIndexes(): Promise<void> {
    await ensureIndexes(this.events, [...EVENT_INDEXES]);
    await ensureIndexes(this.results as unknown as Collection<Document>, [...RESULT_INDEXES]);
  }

  async insertEvents(events: readonly ReactorEvent[], extras?: readonly (Record<string, unknown> | undefined)[]): Promise<InsertedEvents> {
    if (events.length === 0) return { inserted: 0, duplicates: 0, conflicts: 0, rejected: 0 };
    const receivedAt = new Date();
    const docs = events.map((e, i) =>
      withExtras(
        controlCharKey(e)
          ? toTextEventDoc(e, receivedAt, 'a top-level field name holds a control character (FerretDB 1.x stores such a document but cannot read it back)')
          : toEventDoc(e, receivedAt),
        extras?.[i],
      ),
    );
    const first = await this.#insert(this.events, docs);
    let { inserted, duplicates } = first;
    const dupIndexes = [...first.duplicateIndexes];
    let rejectedCount = 0;
    if (first.rejected.length > 0) {
      // The server refused some documents (field names MongoDB or FerretDB do not store,
      // such as "$x" or "a.b" inside a payload). Keep the event: store the payload and
      // any extra fields as JSON text instead, and say so in the document.
      const fallback = first.rejected.map(({ index, message }) => withExtras(toTextEventDoc(events[index]!, receivedAt, message), extras?.[index]));
      this.#log.warn({ count: fallback.length, reason: first.rejected[0]?.message }, 'events stored with payload as JSON text');
      const second = await this.#insert(this.events, fallback);
      inserted += second.inserted;
      duplicates += second.duplicates;
      dupIndexes.push(...second.duplicateIndexes.map((i) => first.rejected[i]!.index));
      if (second.rejected.length > 0) {
        // Refused even as text: kept whole, as JSON text, in `rejected`, never retried forever.
        const items = second.rejected.map(({ index, message }) => ({ event: events[first.rejected[index]!.index]!, message }));
        await this.#reject(
          'event',
          items.map(({ event, message }) => ({ id: event.id, json: JSON.stringify(event), message })),
          receivedAt,
        );
        rejectedCount = items.length;
      }
    }
    const conflicts =
      dupIndexes.length > 0
        ? await this.#recordConflicts(
            dupIndexes.map((i) => events[i]!),
            receivedAt,
          )
        : 0;
    return { inserted, duplicates, conflicts, rejected: rejectedCount };
  }

  /**
   * Of events whose id is already stored, record those whose content differs (another
   * namespace, type or payload under the same id: a feeder reusing ids) in `conflicts`.
   * The same event again (a replay, a retried send) is a plain duplicate.
   */
  async #recordConflicts(events: readonly ReactorEvent[], detectedAt: Date): Promise<number> {
    const stored = await this.events
      .find({ _id: { $in: events.map((e) => e.id) } as never }, { projection: { namespace: 1, event_type: 1, payload: 1, payload_json: 1, epoch: 1, seq: 1 } })
      .toArray();
    const byId = new Map(stored.map((d) => [String(d._id), d]));
    const found: Document[] = [];
    for (const e of events) {
      const d = byId.get(e.id);
      if (!d) continue;
      const storedPayload = typeof d['payload_json'] === 'string' ? (JSON.parse(d['payload_json']) as unknown) : d['payload'];
      if (d['namespace'] === e.namespace && d['event_type'] === e.event_type && canonicalJson(storedPayload) === canonicalJson(e.payload)) continue;
      found.push({
        event_id: e.id,
        stored: { key: `${String(d['namespace'])}:${String(d['event_type'])}`, epoch: d['epoch'] ?? null, seq: d['seq'] ?? null },
        refused: { key: eventKey(e), epoch: e.epoch, seq: e.seq },
        refused_json: JSON.stringify(e),
        detected_at: detectedAt,
      });
    }
    if (found.length === 0) return 0;
    this.#log.warn(
      { count: found.length, eventIds: found.slice(0, 5).map((f) => f['event_id']) },
      'events reuse an archived id with other content: kept the first, recorded in conflicts',
    );
    try {
      await this.#db.collection(CONFLICTS_COLLECTION).insertMany(found, { ordered: false });
    } catch (err) {
      throw new ArchiveError(`cannot record ${found.length} id conflicts: ${(err as Error).message}`, { cause: err });
    }
    return found.length;
  }

  /** Keep what the server refused even as JSON text in `rejected`, so nothing accepted is dropped without a trace. */
  async #reject(kind: 'event' | 'result', items: readonly { id: string; json: string; message: string }[], at: Date): Promise<void> {
    this.#log.error(
      { kind, count: items.length, ids: items.slice(0, 5).map((i) => i.id), reason: items[0]?.message },
      `MongoDB refused ${kind}s even as JSON text; kept in the rejected collection`,
    );
    try {
      await this.#db.collection(REJECTED_COLLECTION).insertMany(
        items.map((i) => ({ kind, [kind === 'event' ? 'event_id' : 'result_id']: i.id, json: i.json, reason: i.message, rejected_at: at })),
        { ordered: false },
      );
    } catch (err) {
      throw new ArchiveError(
        `MongoDB refused ${items.length} ${kind}s (${items[0]?.message}), and keeping them in ${REJECTED_COLLECTION} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async insertResults(results: readonly HandlerResult[]): Promise<void> {
    if (results.length === 0) return;
    const docs = results.map((r) => (r.status === 'ok' ? { ...r, ok_job: r.job_id } : r)) as unknown as Document[];
    const { rejected, duplicates } = await this.#insert(this.results as unknown as Collection<Document>, docs);
    if (duplicates > 0)
      this.#log.info({ duplicates }, 'results already archived: the same run written again, or an ok result of a job that already has one (one_ok_per_job)');
    if (rejected.length === 0) return;
    const fallback = rejected.map(({ index, message }) => {
      const r = results[index]!;
      return { ...docs[index], data: JSON.stringify(r.data) ?? null, data_encoding: 'json', archive_note: message };
    });
    const second = await this.#insert(this.results as unknown as Collection<Document>, fallback);
    if (second.rejected.length > 0) {
      const items = second.rejected.map(({ index, message }) => {
        const r = results[rejected[index]!.index]!;
        return { id: r._id, json: JSON.stringify(r), message };
      });
      await this.#reject('result', items, new Date());
    }
  }

  async findOkResult(ids: readonly string[]): Promise<string | undefined> {
    // One plain `_id` lookup per id: FerretDB (SQLite) scans the whole collection for
    // any other filter, `$in` or `status` included.
    for (const id of ids) {
      let doc;
      try {
        doc = await this.results.findOne({ _id: id }, { projection: { status: 1 } });
      } catch (err) {
        throw new ArchiveError(`cannot read result ${id}: ${(err as Error).message}`, { cause: err });
      }
      if (doc?.status === 'ok') return id;
    }
    return undefined;
  }

  async #insert(
    collection: Collection<Document>,
    docs: Document[],
  ): Promise<{ inserted: number; duplicates: number; duplicateIndexes: number[]; rejected: { index: number; message: string }[] }> {
    try {
      const res = await collection.insertMany(docs, { ordered: false });
      return { inserted: res.insertedCount, duplicates: 0, duplicateIndexes: [], rejected: [] };
    } catch (err) {
      const writeErrors = err instanceof MongoBulkWriteError ? (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]) : [];
      if (writeErrors.length === 0) {
        // The server refused the whole command (FerretDB does so for a document it cannot
        // encode) or did not answer: find out document by document, unless it is down.
        if (transient(err)) throw new ArchiveError(`insert into ${collection.collectionName} failed: ${(err as Error).message}`, { cause: err });
        return this.#insertOneByOne(collection, docs, err as Error);
      }
      const duplicateIndexes: number[] = [];
      const rejected: { index: number; message: string }[] = [];
      for (const we of writeErrors) {
        if (we.code === DUPLICATE_KEY) duplicateIndexes.push(we.index);
        else rejected.push({ index: we.index, message: we.errmsg ?? `code ${we.code}` });
      }
      const duplicates = duplicateIndexes.length;
      return { inserted: (err as MongoBulkWriteError).insertedCount ?? docs.length - writeErrors.length, duplicates, duplicateIndexes, rejected };
    }
  }

  /**
   * Insert each document alone after the server refused a batch as a whole: those it
   * refuses alone are rejected (the caller stores them as text, or in `rejected`); if it
   * refuses every one of several, the server is the problem and the batch is retried.
   */
  async #insertOneByOne(
    collection: Collection<Document>,
    docs: Document[],
    batchError: Error,
  ): Promise<{ inserted: number; duplicates: number; duplicateIndexes: number[]; rejected: { index: number; message: string }[] }> {
    let inserted = 0;
    const duplicateIndexes: number[] = [];
    const rejected: { index: number; message: string }[] = [];
    for (const [index, doc] of docs.entries()) {
      try {
        await collection.insertOne(doc);
        inserted++;
      } catch (err) {
        if ((err as { code?: unknown }).code === DUPLICATE_KEY) duplicateIndexes.push(index);
        else if (transient(err)) throw new ArchiveError(`insert into ${collection.collectionName} failed: ${(err as Error).message}`, { cause: err });
        else rejected.push({ index, message: (err as Error).message });
      }
    }
    if (docs.length > 1 && rejected.length === docs.length) {
      throw new ArchiveError(`insert into ${collection.collectionName} failed for every document: ${batchError.message}`, { cause: batchError });
    }
    this.#log.warn(
      { collection: collection.collectionName, documents: docs.length, refused: rejected.length, reason: batchError.message },
      'the server refused a batch; inserted one by one',
    );
    return { inserted, duplicates: duplicateIndexes.length, duplicateIndexes, rejected };
  }

  async loadCursor(name: string): Promise<Cursor | undefined> {
    try {
      const doc = await this.#db.collection(CURSORS_COLLECTION).findOne({ _id: name as never });
      return doc && typeof doc['epoch'] === 'number' && typeof doc['seq'] === 'number' ? { epoch: doc['epoch'], seq: doc['seq'] } : undefined;
    } catch (err) {
      throw new ArchiveError(`cannot read cursor "${name}": ${(err as Error).message}`, { cause: err });
    }
  }

  async saveCursor(name: string, cursor: Cursor): Promise<void> {
    try {
      await this.#db
        .collection(CURSORS_COLLECTION)
        .updateOne({ _id: name as never }, { $set: { epoch: cursor.epoch, seq: cursor.seq, updated_at: new Date() } }, { upsert: true });
    } catch (err) {
      throw new ArchiveError(`cannot save cursor "${name}": ${(err as Error).message}`, { cause: err });
    }
  }

  async recordGap(gap: GapRecord): Promise<void> {
    try {
      await this.#db.collection(GAPS_COLLECTION).insertOne({ ...gap });
    } catch (err) {
      throw new ArchiveError(`cannot record gap: ${(err as Error).message}`, { cause: err });
    }
  }

  async stats(options: { latestGaps?: number } = {}): Promise<ArchiveStats> {
    return this.#read('read the archive counts', async () => {
      const byStatus = await this.results.aggregate<{ _id: string; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }]).toArray();
      const gaps = this.#db.collection<GapRecord>(GAPS_COLLECTION);
      const lost = await gaps.aggregate<{ n: number; lost: number }>([{ $group: { _id: null, n: { $sum: 1 }, lost: { $sum: '$count' } } }]).toArray();
      const cursors = await this.#db.collection(CURSORS_COLLECTION).find().toArray();
      const latest = await gaps
        .find({}, { projection: { _id: 0 } })
        .sort({ detected_at: -1 })
        .limit(options.latestGaps ?? 5)
        .toArray();
      return {
        events: await this.events.estimatedDocumentCount(),
        results: Object.fromEntries(byStatus.map((r) => [r._id, r.n])),
        dead: await this.results.countDocuments({ dead: true }),
        cursors: cursors.map((c) => ({ name: String(c._id), epoch: Number(c['epoch']), seq: Number(c['seq']), updated_at: c['updated_at'] as Date })),
        conflicts: await this.#db.collection(CONFLICTS_COLLECTION).estimatedDocumentCount(),
        rejected: await this.#db.collection(REJECTED_COLLECTION).estimatedDocumentCount(),
        gaps: { count: lost[0]?.n ?? 0, lost: lost[0]?.lost ?? 0, unknown: await gaps.countDocuments({ count: null }), latest },
      };
    });
  }

  async getEvent(id: string): Promise<StoredEvent | undefined> {
    const doc = await this.#read(`read event ${id}`, () => this.events.findOne({ _id: id as never }));
    return (doc as StoredEvent | null) ?? undefined;
  }

  resultsForJob(jobId: string): Promise<HandlerResult[]> {
    return this.#read(`read the results of job ${jobId}`, () => this.results.find({ job_id: jobId }).sort({ start: 1 }).toArray() as Promise<HandlerResult[]>);
  }

  resultsForEvent(eventId: string): Promise<HandlerResult[]> {
    return this.#read(
      `read the results of event ${eventId}`,
      () => this.results.find({ event_id: eventId }).sort({ start: 1 }).toArray() as Promise<HandlerResult[]>,
    );
  }

  async finalResults(eventId: string): Promise<HandlerResult[]> {
    return finalResults(await this.resultsForEvent(eventId));
  }

  listEvents(query: EventQuery): Promise<EventSummary[]> {
    return this.#read('list events', () => listEvents(this.#db, query));
  }

  eventDetail(id: string): Promise<EventDetail | undefined> {
    return this.#read(`read event ${id}`, () => eventDetail(this.#db, id));
  }

  listResults(query: ResultQuery): Promise<HandlerResult[]> {
    return this.#read('list results', () => listResults(this.#db, query));
  }

  eventsToReplay(query: ReplayQuery): AsyncIterable<StoredEvent> {
    return eventsToReplay(this.#db, query);
  }

  /** Delete what `retention` no longer keeps (see retention.ts). */
  prune(retention: Retention): Promise<PruneReport> {
    return this.#read('prune the archive', () => prune(this.#db, retention));
  }

  /** Run a query; a failure becomes an ArchiveError saying what was being read. */
  async #read<T>(what: string, query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (err) {
      throw new ArchiveError(`cannot ${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Resolves when the server answers a `ping`. @throws {ArchiveError} otherwise */
  ping(): Promise<void> {
    return this.#read('ping MongoDB', async () => {
      await this.#db.command({ ping: 1 });
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#client.close();
    return this.#closing;
  }
}

/**
 * Create the indexes that do not exist yet. Only missing ones are sent: FerretDB 1.24
 * drops the connection when asked to create an index that already exists.
 */
async function ensureIndexes(collection: Collection<Document>, wanted: IndexDescription[]): Promise<void> {
  let existing: Set<string>;
  try {
    existing = new Set((await collection.listIndexes().toArray()).map((i) => String(i['name'])));
  } catch (err) {
    if ((err as { code?: number }).code !== NAMESPACE_NOT_FOUND) throw err;
    existing = new Set();
  }
  const missing = wanted.filter((w) => !existing.has(w.name ?? ''));
  if (missing.length > 0) await collection.createIndexes(missing);
}

export function toEventDoc(e: ReactorEvent, receivedAt: Date): Document {
  // Spread defines own data properties, so a "__proto__" key from the wire stays a plain
  // field (assignment would set the prototype); and it is several times faster than
  // defining each property. An `_id` field of the event does not replace its id.
  const doc: Document = { _id: e.id, ...e };
  doc['_id'] = e.id;
  doc['key'] = eventKey(e);
  doc['time'] = new Date(e.timestamp * 1000);
  doc['received_at'] = receivedAt;
  return doc;
}

/** Server error codes that mean "not now" (a failover, a shutdown, a timeout), not "not this document". */
const TRANSIENT_CODES = new Set([6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** A failure to retry later: no answer, or the server saying it cannot write now. */
function transient(err: unknown): boolean {
  if (!(err instanceof MongoServerError) && !(err instanceof MongoBulkWriteError)) return true;
  if (err.hasErrorLabel('RetryableWriteError')) return true;
  return typeof err.code === 'number' && TRANSIENT_CODES.has(err.code);
}

/** True when a top-level field name of `e` holds a character below U+0020. */
function controlCharKey(e: ReactorEvent): boolean {
  for (const k in e) if (/[\u0000-\u001f]/.test(k)) return true;
  return false;
}

/** `doc` with the archive's own fields (`decisions`) added. */
function withExtras(doc: Document, extras: Record<string, unknown> | undefined): Document {
  if (extras) for (const [k, v] of Object.entries(extras)) doc[k] = v;
  return doc;
}

/** JSON with object keys sorted, so two values that are equal compare equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function toTextEventDoc(e: ReactorEvent, receivedAt: Date, reason: string): Document {
  const doc: Document = { _id: e.id };
  const extras: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'payload' || k === '_id') continue;
    if (KNOWN_EVENT_FIELDS.has(k)) doc[k] = v;
    else extras[k] = v;
  }
  doc['payload_json'] = JSON.stringify(e.payload) ?? 'null';
  if (Object.keys(extras).length > 0) doc['extra_json'] = JSON.stringify(extras);
  doc['archive_note'] = `payload stored as JSON text: ${reason}`;
  doc['key'] = eventKey(e);
  doc['time'] = new Date(e.timestamp * 1000);
  doc['received_at'] = receivedAt;
  return doc;
}
