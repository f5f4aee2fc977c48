import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type JobType } from 'bullmq';
import { MongoClient, type Db } from 'mongodb';
import { queueNames, queueConnection } from '../../../src/queue/connection.js';
import type { BullConnection } from '../../../src/redis/redis-client.js';
import { jobIdFor } from '../../../src/queue/job.js';
import type { Fired } from './feeder.js';
import type { Stack } from './stack.js';

/** One scenario's outcome, printed as one JSON line. */
export interface Summary {
  scenario: string;
  /** Events fired whose delivery the sender knows of: REQ answered, PUSH handed to ZeroMQ. */
  sent: number;
  /** REQ events that got no answer after every retry (not counted as sent). */
  req_failed: number;
  /** Documents in `events` with a fired id, and how many distinct ids. */
  archived: number;
  distinct_archived: number;
  /** Archived events nobody fired (must be 0). */
  unexpected: number;
  /** `ok` results, and distinct (event, handler) pairs with one. */
  results: number;
  distinct_results: number;
  /** Result documents of any status (failed attempts, shutdown aborts included). */
  attempts: number;
  /** Results of runs started again after an earlier start was cut off (stalled or requeued). */
  reruns: number;
  /** Extra `ok` results for a pair, plus pairs both ok and dead. */
  duplicates: number;
  /** Sent events not archived, plus pairs of archived events with neither an ok nor a dead result. */
  lost: number;
  lost_events: number;
  lost_results: number;
  /** Up to 10 lost pairs as BullMQ sees them (state, attempts, stalls, failure), to tell why. */
  lost_jobs: Record<string, unknown>[];
  /** Pairs dead-lettered (last attempt failed), and how many of those carry no error reason. */
  dead: number;
  dead_without_reason: number;
  /** Dead pairs by `error_code` of their dead result. */
  dead_codes: Record<string, number>;
  /** Measured-only events (see Fired.measured), per group: handed to ZeroMQ, and of those archived. */
  measured: Record<string, { sent: number; archived: number }>;
  seconds: number;
  [extra: string]: unknown;
}

export interface SettleOptions {
  /** Give up when nothing moved for this long; default 60000 ms. */
  quietMs?: number;
  /** Give up after this long whatever happens; default 300000 ms. */
  maxMs?: number;
}

/** Reads the outcome straight from MongoDB and BullMQ, never through the daemons. */
export class Tally {
  readonly #client: MongoClient;
  readonly #db: Db;
  readonly #queues: Queue[];
  readonly #stack: Stack;
  readonly #link: BullConnection;

  constructor(stack: Stack, mongoUrl: string, redisUrl: string) {
    this.#stack = stack;
    this.#client = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 60_000 });
    this.#db = this.#client.db(stack.cfg.database);
    const q = stack.cfg.settings.queue;
    const names = queueNames(q.name);
    // Any Redis address (plain, Sentinel, Cluster), read as the daemons read it.
    this.#link = queueConnection(redisUrl);
    this.#queues = [names.normal, names.exclusive].map((n) => new Queue(n, { connection: this.#link.connection, prefix: q.prefix }));
    for (const queue of this.#queues) queue.on('error', () => undefined);
  }

  get db(): Db {
    return this.#db;
  }

  /** Jobs not finished yet (waiting, active, delayed, prioritized, waiting for children) over both queues. */
  async unfinishedJobs(): Promise<number> {
    return this.#count(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);
  }

  /** Jobs running right now, over both queues. */
  async activeJobs(): Promise<number> {
    return this.#count(['active']);
  }

  async #count(types: JobType[]): Promise<number> {
    let n = 0;
    for (const q of this.#queues) {
      const c = await q.getJobCounts(...types);
      n += Object.values(c).reduce((a, b) => a + b, 0);
    }
    return n;
  }

  /** Counts that move while the pipeline works. */
  async progress(): Promise<{ events: number; results: number; unfinished: number }> {
    const [events, results, unfinished] = await Promise.all([
      this.#db.collection('events').countDocuments({}),
      this.#db.collection('results').countDocuments({}),
      this.unfinishedJobs(),
    ]);
    return { events, results, unfinished };
  }

  /**
   * Wait until every sent event is archived, every pair has a final result and no job is
   * left in BullMQ; or until nothing has moved for `quietMs`. Returns whether it settled.
   */
  async settle(fired: ReadonlyMap<string, Fired>, o: SettleOptions = {}): Promise<boolean> {
    const quietMs = o.quietMs ?? 60_000;
    const deadline = Date.now() + (o.maxMs ?? 300_000);
    const sent = [...fired.values()].filter((f) => f.acked && f.measured === undefined);
    const wantEvents = sent.length;
    const wantPairs = sent.reduce((n, f) => n + this.#stack.handlersOf(f.eventType).length, 0);
    let last = '';
    let lastMoved = Date.now();
    while (Date.now() < deadline) {
      const p = await this.progress().catch(() => undefined);
      if (p) {
        const final = await this.#db.collection('results').countDocuments({ $or: [{ status: 'ok' }, { dead: true }] });
        if (p.events >= wantEvents && final >= wantPairs && p.unfinished === 0) return true;
        const key = JSON.stringify([p, final]);
        if (key !== last) {
          last = key;
          lastMoved = Date.now();
        }
      }
      if (Date.now() - lastMoved > quietMs) return false;
      await sleep(1000);
    }
    return false;
  }

  /** Compare what was fired with what MongoDB holds. */
  async summarize(scenario: string, fired: ReadonlyMap<string, Fired>, seconds: number): Promise<Summary> {
    const eventIds = (
      await this.#db
        .collection('events')
        .find({}, { projection: { _id: 1 } })
        .toArray()
    ).map((d) => String(d._id));
    const results = await this.#db
      .collection('results')
      .find({}, { projection: { job_id: 1, status: 1, dead: 1, error: 1, error_code: 1, run: 1, attempt: 1 } })
      .toArray();
    const archived = new Set(eventIds);
    const byJob = new Map<string, { ok: number; dead: number; deadNoReason: number; code?: string }>();
    for (const r of results) {
      const j = byJob.get(String(r['job_id'])) ?? { ok: 0, dead: 0, deadNoReason: 0 };
      if (r['status'] === 'ok') j.ok++;
      if (r['dead'] === true) {
        j.dead++;
        j.code = String(r['error_code'] ?? 'none');
        if (typeof r['error'] !== 'string' || r['error'] === '') j.deadNoReason++;
      }
      byJob.set(String(r['job_id']), j);
    }
    let sent = 0;
    let reqFailed = 0;
    let lostEvents = 0;
    let lostResults = 0;
    let okResults = 0;
    let distinctResults = 0;
    let duplicates = eventIds.length - archived.size;
    let dead = 0;
    let deadNoReason = 0;
    const measured: Summary['measured'] = {};
    const deadCodes: Record<string, number> = {};
    const lostJobIds: string[] = [];
    for (const f of fired.values()) {
      if (f.measured !== undefined) {
        const m = (measured[f.measured] ??= { sent: 0, archived: 0 });
        if (f.acked) m.sent++;
        if (archived.has(f.id)) m.archived++;
      } else if (f.acked) sent++;
      else reqFailed++;
      if (!archived.has(f.id)) {
        if (f.acked && f.measured === undefined) lostEvents++;
        continue;
      }
      for (const handler of this.#stack.handlersOf(f.eventType)) {
        const j = byJob.get(jobIdFor(f.id, handler)) ?? { ok: 0, dead: 0, deadNoReason: 0 };
        okResults += j.ok;
        if (j.ok > 0) distinctResults++;
        duplicates += Math.max(0, j.ok - 1) + (j.ok > 0 && j.dead > 0 ? 1 : 0);
        if (j.ok === 0 && j.dead > 0) {
          dead++;
          deadCodes[j.code ?? 'none'] = (deadCodes[j.code ?? 'none'] ?? 0) + 1;
        }
        if (j.ok === 0 && j.dead === 0) {
          lostResults++;
          lostJobIds.push(jobIdFor(f.id, handler));
        }
        deadNoReason += j.deadNoReason;
      }
    }
    return {
      scenario,
      sent,
      req_failed: reqFailed,
      archived: eventIds.filter((id) => fired.get(id)?.measured === undefined && fired.has(id)).length,
      distinct_archived: [...archived].filter((id) => fired.get(id)?.measured === undefined && fired.has(id)).length,
      unexpected: [...archived].filter((id) => !fired.has(id)).length,
      results: okResults,
      distinct_results: distinctResults,
      attempts: results.length,
      reruns: results.filter((r) => Number(r['run']) > Number(r['attempt'])).length,
      duplicates,
      lost: lostEvents + lostResults,
      lost_events: lostEvents,
      lost_results: lostResults,
      lost_jobs: await this.#describeJobs(lostJobIds.slice(0, 10)),
      dead,
      dead_without_reason: deadNoReason,
      dead_codes: deadCodes,
      measured,
      seconds: Math.round(seconds * 10) / 10,
    };
  }

  async #describeJobs(ids: string[]): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (const id of ids) {
      try {
        const found = await Promise.all(this.#queues.map((q) => q.getJob(id)));
        const job = found.find((j) => j);
        if (!job) {
          out.push({ id, state: 'not in BullMQ' });
          continue;
        }
        out.push({
          id,
          state: await job.getState(),
          attemptsMade: job.attemptsMade,
          attemptsStarted: job.attemptsStarted,
          stalledCounter: job.stalledCounter,
          failedReason: job.failedReason,
          deferredFailure: job.deferredFailure,
        });
      } catch (err) {
        out.push({ id, error: (err as Error).message });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.#queues.map((q) => q.close().catch(() => undefined)));
    await this.#link.close();
    await this.#client.close();
  }
}

/** Print the summary as one JSON line, and append it to `$FAULT_SUMMARY_FILE` when set (test/faults/run.ts reads it). */
export function report(summary: Summary): void {
  const line = JSON.stringify(summary);
  process.stdout.write(`${line}\n`);
  const file = process.env['FAULT_SUMMARY_FILE'];
  if (file) appendFileSync(file, `${line}\n`);
}
