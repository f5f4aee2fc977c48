import { Queue, Worker } from 'bullmq';
import type { Db, Document, IndexDescription } from 'mongodb';
import * as zmq from 'zeromq';
import { EVENT_INDEXES, RESULT_INDEXES, toEventDoc } from '../../src/archive/mongo-archive.js';
import type { ReactorEvent } from '../../src/event/event.js';
import { describeRun } from '../../src/handlers/run-job.js';
import { handlerId, type HandlerSpec } from '../../src/handlers/spec.js';
import { eventJson } from './events.js';
import { sendPaced } from './pace.js';
import { latencySummary, meanRate, serialRate } from './stats.js';
import { cpuSeconds, withTimeout } from './processes.js';

/** CPU time used by each process while `f` runs, in µs per item. */
export async function cpuPerItem<T>(
  pids: Record<string, number>,
  items: number,
  f: () => Promise<T>,
): Promise<{ value: T; cpuUsPerItem: Record<string, number> }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid) ?? Number.NaN]));
  const value = await f();
  const cpuUsPerItem = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, Math.round((((cpuSeconds(pid) ?? Number.NaN) - before[k]!) * 1e6) / items)]),
  );
  return { value, cpuUsPerItem };
}

/** A stamped 1 KB event as the subscriber archives it and a job carries it. */
export function sampleEvent(i: number): ReactorEvent {
  const body = JSON.parse(eventJson('bench.bare', { i, sent_at: Date.now() })) as { event_type: string; payload: unknown };
  const id = `bare-${i.toString().padStart(8, '0')}`;
  return { id, namespace: 'local', event_type: body.event_type, payload: body.payload, timestamp: Date.now() / 1000, trace_id: id, seq: i + 1, epoch: 1 };
}

export interface InsertBaseline {
  docs: number;
  batch: number;
  indexed: boolean;
  docsPerS: number;
  /** Median time of one insertMany call, ms. */
  medianBatchMs: number;
}

/**
 * insertMany of `docs` event documents (shaped by the archive's own `toEventDoc`) in
 * batches of `batch`, one after the other, into `collection` of `db`. With `indexed`,
 * the collection first gets the indexes the archive creates on `events`.
 */
export async function mongoInsertBaseline(db: Db, collection: string, docs: number, batch: number, indexed: boolean): Promise<InsertBaseline> {
  const all = Array.from({ length: docs }, (_, i) => toEventDoc({ ...sampleEvent(i), id: `${collection}-${i}` }, new Date()));
  return insertBaseline(db, collection, all, batch, indexed ? EVENT_INDEXES : undefined);
}

/** The no-op tsfunc handler of the bench, as the handler table gives it to jobs. */
const NOOP_HANDLER: HandlerSpec = { id: handlerId('tsfunc', 'noop.run'), key: 'local:bench.bare', driver: 'tsfunc', command: 'noop.run', exclusive: false };

/**
 * insertMany of `docs` handler results (shaped by the worker's own `describeRun`: an ok
 * run of the no-op tsfunc handler) in batches of `batch` into `collection` of `db`, which
 * first gets the indexes the archive creates on `results`.
 */
export async function resultInsertBaseline(db: Db, collection: string, docs: number, batch: number): Promise<InsertBaseline> {
  const now = new Date();
  const all = Array.from({ length: docs }, (_, i) => {
    const event = sampleEvent(i);
    return describeRun(NOOP_HANDLER, event, { id: `${event.id}.${NOOP_HANDLER.id}`, run: 1 }, 1, { status: 'ok', code: 0, data: null }, now, now);
  });
  return insertBaseline(db, collection, all, batch, RESULT_INDEXES);
}

async function insertBaseline(
  db: Db,
  collection: string,
  all: Document[],
  batch: number,
  indexes: readonly IndexDescription[] | undefined,
): Promise<InsertBaseline> {
  const coll = db.collection(collection);
  if (indexes) await coll.createIndexes([...indexes]);
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < all.length; i += batch) {
    const t = performance.now();
    await coll.insertMany(all.slice(i, i + batch), { ordered: false });
    times.push(performance.now() - t);
  }
  const ms = performance.now() - start;
  times.sort((a, b) => a - b);
  return { docs: all.length, batch, indexed: indexes !== undefined, docsPerS: (all.length * 1000) / ms, medianBatchMs: times[times.length >> 1] ?? Number.NaN };
}

export interface BullmqBaseline {
  jobs: number;
  batch: number;
  concurrency: number;
  addPerS: number;
  processPerS: number;
}

/**
 * BullMQ alone on the same Redis: addBulk of `jobs` no-op jobs carrying a 1 KB event (in
 * batches of `batch`), then one Worker with `concurrency` draining them. Both timed
 * separately; the worker runs in this process.
 */
export async function bullmqBaseline(
  redisUrl: string,
  name: string,
  jobs: number,
  batch: number,
  concurrency: number,
  timeoutMs: number,
): Promise<BullmqBaseline> {
  const connection = { url: redisUrl, maxRetriesPerRequest: null };
  const queue = new Queue(name, { connection, prefix: 'bull' });
  const handler = { id: 'bare', key: 'local:bench.bare', driver: 'tsfunc', handler: 'noop.run', exclusive: false };
  try {
    const addStart = performance.now();
    for (let i = 0; i < jobs; i += batch) {
      const slice = Array.from({ length: Math.min(batch, jobs - i) }, (_, k) => {
        const event = sampleEvent(i + k);
        return { name: handler.key, data: { event, handler }, opts: { jobId: `${event.id}.bare` } };
      });
      await queue.addBulk(slice);
    }
    const addMs = performance.now() - addStart;

    let completed = 0;
    let resolveDone: () => void = () => undefined;
    const done = new Promise<void>((r) => (resolveDone = r));
    const worker = new Worker(name, async () => null, { connection, prefix: 'bull', concurrency, autorun: false });
    worker.on('error', () => undefined);
    worker.on('completed', () => {
      if (++completed === jobs) resolveDone();
    });
    const runStart = performance.now();
    void worker.run().catch(() => undefined);
    await withTimeout('the BullMQ baseline worker', timeoutMs, done);
    const runMs = performance.now() - runStart;
    await worker.close();
    return { jobs, batch, concurrency, addPerS: (jobs * 1000) / addMs, processPerS: (jobs * 1000) / runMs };
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}

/**
 * One-way latency of a bare ZeroMQ PUSH -> PULL hop on loopback, in this process, with
 * the same 1 KB events and the same paced sender as the pipeline's latency run.
 */
export async function hopLatencyBaseline(rate: number, seconds: number): Promise<{ n: number; p50: number; p99: number; max: number }> {
  const pull = new zmq.Pull({ linger: 0 });
  await pull.bind('tcp://127.0.0.1:*');
  const push = new zmq.Push({ linger: 0 });
  push.connect(pull.lastEndpoint!);
  const count = rate * seconds;
  const latencies: number[] = [];
  const receiving = (async () => {
    for await (const [msg] of pull) {
      const now = performance.now();
      const e = JSON.parse(msg!.toString()) as { payload: { sent_hr: number } };
      latencies.push(now - e.payload.sent_hr);
      if (latencies.length === count) break;
    }
  })();
  // Let the connection come up before timing anything.
  await push.send(eventJson('bench.hop', { sent_hr: performance.now() }));
  await withTimeout(
    'the first hop message',
    5000,
    new Promise<void>((r) => {
      const t = setInterval(() => latencies.length > 0 && (clearInterval(t), r()), 5);
    }),
  );
  latencies.length = 0;
  await sendPaced({ rate, count, send: () => push.send(eventJson('bench.hop', { sent_at: Date.now(), sent_hr: performance.now() })) });
  await withTimeout('the hop receiver', 10_000, receiving);
  push.close();
  pull.close();
  return latencySummary(latencies);
}

/** A baseline's figures with the CPU each process used per item. */
export interface Measured<T> {
  value: T;
  cpuUsPerItem: Record<string, number>;
}

/** The bare components of the pipeline, each alone: what the ceiling is made of. */
export interface ComponentBaselines {
  insertPlain: Measured<InsertBaseline>;
  insertIndexed: Measured<InsertBaseline>;
  bullmq: Measured<BullmqBaseline>;
  resultInsert: Measured<InsertBaseline>;
}

/** Every pipeline component's baseline, one after the other, with the CPU of `pids` per item. */
export async function componentBaselines(
  db: Db,
  tag: string,
  redisUrl: string,
  queue: string,
  items: number,
  concurrency: number,
  pids: Record<string, number>,
  progress: (message: string) => void,
): Promise<ComponentBaselines> {
  progress(`insertMany ${items} x 1 KB events in batches of 500, without and with the events indexes`);
  const insertPlain = await cpuPerItem(pids, items, () => mongoInsertBaseline(db, `plain_${tag}`, items, 500, false));
  const insertIndexed = await cpuPerItem(pids, items, () => mongoInsertBaseline(db, `indexed_${tag}`, items, 500, true));
  progress(`BullMQ addBulk + no-op worker (concurrency ${concurrency}), ${items} jobs`);
  const bullmq = await cpuPerItem(pids, items, () => bullmqBaseline(redisUrl, `${queue}-${tag}`, items, 500, concurrency, 180_000));
  progress(`insertMany ${items} handler results in batches of 500`);
  const resultInsert = await cpuPerItem(pids, items, () => resultInsertBaseline(db, `results_${tag}`, items, 500));
  return { insertPlain, insertIndexed, bullmq, resultInsert };
}

/** Runs of the same baselines as one: each rate from the mean time per item, CPU and batch times averaged. */
export function meanBaselines(runs: readonly ComponentBaselines[]): ComponentBaselines {
  const cpu = (ms: Record<string, number>[]): Record<string, number> =>
    Object.fromEntries(Object.keys(ms[0] ?? {}).map((k) => [k, Math.round(ms.reduce((t, m) => t + (m[k] ?? Number.NaN), 0) / ms.length)]));
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const insert = (ms: Measured<InsertBaseline>[]): Measured<InsertBaseline> => ({
    value: { ...ms[0]!.value, docsPerS: meanRate(ms.map((m) => m.value.docsPerS)), medianBatchMs: mean(ms.map((m) => m.value.medianBatchMs)) },
    cpuUsPerItem: cpu(ms.map((m) => m.cpuUsPerItem)),
  });
  const b = runs.map((r) => r.bullmq);
  return {
    insertPlain: insert(runs.map((r) => r.insertPlain)),
    insertIndexed: insert(runs.map((r) => r.insertIndexed)),
    bullmq: {
      value: { ...b[0]!.value, addPerS: meanRate(b.map((m) => m.value.addPerS)), processPerS: meanRate(b.map((m) => m.value.processPerS)) },
      cpuUsPerItem: cpu(b.map((m) => m.cpuUsPerItem)),
    },
    resultInsert: insert(runs.map((r) => r.resultInsert)),
  };
}

/**
 * The components' ceiling in events/s: each event needs one insert into `events`, one
 * BullMQ add and run, and one insert into `results`, each at its bare rate, one after the
 * other (see bench/e2e.ts).
 */
export function ceilingRate(b: ComponentBaselines): number {
  return serialRate([b.insertIndexed.value.docsPerS, b.bullmq.value.addPerS, b.bullmq.value.processPerS, b.resultInsert.value.docsPerS]);
}

/** The same from CPU: the client and server CPU µs per item of those baselines, summed. */
export function ceilingCpuUs(b: ComponentBaselines): number {
  const sum = (m: Record<string, number>): number => Object.values(m).reduce((a, v) => a + v, 0);
  return sum(b.insertIndexed.cpuUsPerItem) + sum(b.bullmq.cpuUsPerItem) + sum(b.resultInsert.cpuUsPerItem);
}
