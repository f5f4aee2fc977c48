/**
 * The whole pipeline, end to end, as an operator runs it.
 *
 *   node --import tsx bench/e2e.ts [--events 20000] [--rate 1000] [--seconds 10]
 *       [--concurrency 50] [--log-level INFO] [--baselines on|off] [--keep on|off]
 *
 * Starts Redis and FerretDB (startLocalServices; REDIS_URL / MONGO_URL are used instead
 * when set), writes a temp config and a handler directory with a no-op tsfunc handler,
 * and runs `node bin/event-router`, `bin/event-sub` and `bin/event-worker --concurrency N`
 * as separate processes. A fresh database and queue name per run. Then:
 *
 *   (a) throughput: `events` 1 KB events pushed as fast as the router takes them; time
 *       until every handler result is in MongoDB `results` (polled), with the counts of
 *       archived events and results checked, and the CPU each process used;
 *   (b) latency: a steady `rate` events/s for `seconds` s, each carrying `sent_at`; p50/p99
 *       of fire -> handler start (`results.start`), computed from MongoDB afterwards,
 *       next to a bare ZeroMQ PUSH -> PULL hop with the same events in this run; and the
 *       same time cut into stages, each from timestamps the pipeline stores anyway:
 *         router     sent_at            -> event.timestamp   (router stamp)
 *         sub        event.timestamp    -> events.received_at (receive + batch wait: the
 *                                          subscriber's flush starts)
 *         archive    events.received_at -> job timestamp     (insertMany of the batch; BullMQ
 *                                          stamps a job when addBulk builds it)
 *         queue      job timestamp      -> job processedOn   (addBulk + waiting + the worker's
 *                                          fetch: moveToActive)
 *         worker     job processedOn    -> results.start     (processor until the handler runs)
 *   (c) baselines on the same servers, each component alone, to show where the time goes:
 *       bare insertMany of the same number of 1 KB event documents in batches of 500 (with
 *       and without the archive's indexes), bare BullMQ addBulk (batches of 500) then a
 *       no-op worker with the same concurrency, and bare insertMany of as many handler
 *       results (the worker's document shape, the archive's `results` indexes) in batches
 *       of 500. They run twice, before the daemons start and after they stop, and each
 *       figure is the mean of the two (rates from the mean time per item): on a machine
 *       shared with other work, the load changes within a run, and the pipeline ran in
 *       between.
 *
 * The ceiling: every event needs one insert into `events`, one BullMQ add and run, and one
 * insert into `results`. With each component's bare rate from (c) in this run,
 *
 *   ceiling events/s = 1 / (1/insert_indexed + 1/bullmq_add + 1/bullmq_run + 1/result_insert)
 *
 * the rate if those steps ran one after the other, each as fast as it runs alone. The
 * end-to-end rate of (a) is printed as a ratio of it (`ratio_to_ceiling`; the ceilings of
 * the runs before and after are in the JSON line too). The same figure from CPU (the
 * baselines' client + server CPU µs per item, summed, against 2 cores) is printed next to
 * the pipeline's own CPU µs per event.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type JobType } from 'bullmq';
import { Redis } from 'ioredis';
import { MongoClient, type Db } from 'mongodb';
import { pino } from 'pino';
import * as zmq from 'zeromq';
import { startLocalServices, type LocalServices } from '../src/devstack/services.js';
import { handlerId } from '../src/handlers/spec.js';
import { entryQueueName, legacyQueueNames } from '../src/queue/queue-for.js';
import { createLogger } from '../src/logger.js';
import { ceilingCpuUs, ceilingRate, componentBaselines, hopLatencyBaseline, meanBaselines, type ComponentBaselines } from './lib/baselines.js';
import { eventJson, probeJson } from './lib/events.js';
import { choiceOption, intOption } from './lib/options.js';
import { sendPaced } from './lib/pace.js';
import { ProcessSet, cpuSeconds, onSignals, stopProcess, watchdog } from './lib/processes.js';
import { printJson, printTable, progress } from './lib/report.js';
import { logProblems, logTail, routerPorts, runName, startDaemon, waitForLog, writeBenchConfig, type DaemonProcess } from './lib/stack.js';
import { fmtInt, latencySummary, round } from './lib/stats.js';

const NAME = 'e2e';
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const KEYS = { warmup: 'local:bench.warmup', tput: 'local:bench.tput', lat: 'local:bench.lat' } as const;
const TARGET_EVENTS_PER_S = 5000;
/** End to end against the components' ceiling (see the header). */
const CEILING_RATIO_TARGET = 0.8;
/** Fire -> handler start p99 at `rate`, ms. */
const LATENCY_P99_TARGET_MS = 50;
const STAGE_NOTES: Record<Stage, string> = {
  router: 'sent_at -> event.timestamp (router stamp)',
  sub: 'event.timestamp -> events.received_at (receive + batch wait)',
  archive: 'received_at -> job timestamp (insertMany; addBulk builds the job)',
  queue: 'job timestamp -> processedOn (addBulk + wait + worker fetch)',
  worker: 'processedOn -> results.start (processor until the handler runs)',
};
const START_TIMEOUT_MS = 60_000;
/** A phase is abandoned when no new result arrives for this long. */
const STALL_MS = 30_000;

const procs = new ProcessSet();
const problems: string[] = [];

function ensureBuilt(): void {
  if (existsSync(join(ROOT, 'dist/event-reactor.js'))) return;
  progress(NAME, 'dist/event-reactor.js missing; running npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status})`);
}

/** Wait until `count()` reaches `target`; gives up when it stops moving for STALL_MS. */
async function pollCount(
  what: string,
  count: () => Promise<number>,
  target: number,
  intervalMs: number,
): Promise<{ n: number; at: number; polls: number; pollMs: number }> {
  let last = -1;
  let lastChange = performance.now();
  let polls = 0;
  let pollMs = 0;
  for (;;) {
    const t = performance.now();
    const n = await count();
    polls++;
    pollMs += performance.now() - t;
    if (n >= target) return { n, at: Date.now(), polls, pollMs };
    if (n !== last) {
      last = n;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > STALL_MS) {
      problems.push(`${what}: stalled at ${n}/${target} (no progress for ${STALL_MS / 1000} s)`);
      return { n, at: Date.now(), polls, pollMs };
    }
    await sleep(intervalMs);
  }
}

/** CPU seconds of each process, keyed by name. */
function cpuSnapshot(pids: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid) ?? Number.NaN]));
}

interface Throughput {
  events: number;
  sendMs: number;
  /** Fire start -> every result stored (jobs completed, polled every 50 ms). */
  totalMs: number;
  eventsPerS: number;
  archived: number;
  results: number;
  resultsOk: number;
  /** Fire start -> last event archived / first handler start / last handler end, ms. */
  lastArchivedMs: number;
  firstStartMs: number;
  lastEndMs: number;
  /** CPU used by each process during the phase, as % of one core. */
  cpuPct: Record<string, number>;
  /** CPU used by each process during the phase, µs per event. */
  cpuUsPerEvent: Record<string, number>;
  pollMeanMs: number;
}

/**
 * Jobs completed on the bench queue. A job completes only after its result is stored in
 * MongoDB, so this counts stored results; it is polled instead of `countDocuments`,
 * which takes ~1 s per call on FerretDB 1.24 (SQLite) at 20,000 documents and would load
 * the very server being measured. Counts are checked in MongoDB once at the end.
 */
type CompletedCount = () => Promise<number>;

async function throughputPhase(db: Db, push: zmq.Push, events: number, pids: Record<string, number>, completed: CompletedCount): Promise<Throughput> {
  const results = db.collection('results');
  const base = await completed();
  const cpu0 = cpuSnapshot(pids);
  const t0 = Date.now();
  for (let i = 0; i < events; i++) await push.send(eventJson('bench.tput', { i, sent_at: Date.now() }));
  const sendMs = Date.now() - t0;
  progress(NAME, `  ${fmtInt(events)} events pushed in ${sendMs} ms; waiting for results`);
  const done = await pollCount('throughput results', async () => (await completed()) - base, events, 50);
  const totalMs = done.at - t0;
  const cpu1 = cpuSnapshot(pids);
  const cpuPct = Object.fromEntries(Object.keys(pids).map((k) => [k, round((100 * (cpu1[k]! - cpu0[k]!) * 1000) / totalMs)]));
  const cpuUsPerEvent = Object.fromEntries(Object.keys(pids).map((k) => [k, round(((cpu1[k]! - cpu0[k]!) * 1e6) / events)]));

  const evDocs = await db
    .collection('events')
    .find({ key: KEYS.tput }, { projection: { received_at: 1 } })
    .toArray();
  const resDocs = await results.find({ key: KEYS.tput }, { projection: { start: 1, end: 1, status: 1 } }).toArray();
  const ms = (d: unknown): number => (d instanceof Date ? d.getTime() - t0 : Number.NaN);
  const maxOf = (xs: number[]): number => (xs.length > 0 ? xs.reduce((a, b) => Math.max(a, b)) : Number.NaN);
  const minOf = (xs: number[]): number => (xs.length > 0 ? xs.reduce((a, b) => Math.min(a, b)) : Number.NaN);
  return {
    events,
    sendMs,
    totalMs,
    eventsPerS: (done.n * 1000) / totalMs,
    archived: evDocs.length,
    results: resDocs.length,
    resultsOk: resDocs.filter((r) => r['status'] === 'ok').length,
    lastArchivedMs: maxOf(evDocs.map((d) => ms(d['received_at']))),
    firstStartMs: minOf(resDocs.map((d) => ms(d['start']))),
    lastEndMs: maxOf(resDocs.map((d) => ms(d['end']))),
    cpuPct,
    cpuUsPerEvent,
    pollMeanMs: done.pollMs / done.polls,
  };
}

type Summary = { n: number; p50: number; p99: number; max: number };

/** Stages of fire -> handler start, in order; see the header. */
const STAGES = ['router', 'sub', 'archive', 'queue', 'worker'] as const;
type Stage = (typeof STAGES)[number];

interface Latency {
  rate: number;
  sent: number;
  maxSendLagMs: number;
  results: number;
  /** Fire -> handler start, ms. */
  handlerStart: Summary;
  /** Fire -> archived by the subscriber (`events.received_at`), ms. */
  archived: Summary;
  /** Fire -> handler start cut into stages, ms (see the header). */
  breakdown: Record<Stage, Summary>;
}

/** BullMQ's timestamps of jobs (ms): created by addBulk, moved to active by a worker. */
type JobTimes = (jobIds: readonly string[]) => Promise<Map<string, { timestamp: number; processedOn: number }>>;

async function latencyPhase(db: Db, push: zmq.Push, rate: number, seconds: number, completed: CompletedCount, jobTimes: JobTimes): Promise<Latency> {
  const count = rate * seconds;
  const base = await completed();
  const paced = await sendPaced({ rate, count, send: (i) => push.send(eventJson('bench.lat', { i, sent_at: Date.now() })) });
  await pollCount('latency results', async () => (await completed()) - base, count, 100);
  const evDocs = await db
    .collection('events')
    .find({ key: KEYS.lat }, { projection: { 'payload.sent_at': 1, timestamp: 1, received_at: 1 } })
    .toArray();
  const resDocs = await db
    .collection('results')
    .find({ key: KEYS.lat }, { projection: { event_id: 1, job_id: 1, start: 1 } })
    .toArray();
  const events = new Map<string, { sentAt: number; stampedAt: number; receivedAt: number }>();
  const archived: number[] = [];
  for (const e of evDocs) {
    const s = (e['payload'] as { sent_at?: unknown } | undefined)?.sent_at;
    if (typeof s !== 'number' || !(e['received_at'] instanceof Date)) continue;
    const receivedAt = e['received_at'].getTime();
    events.set(String(e['_id']), { sentAt: s, stampedAt: Number(e['timestamp']) * 1000, receivedAt });
    archived.push(receivedAt - s);
  }
  const jobs = await jobTimes(resDocs.map((r) => String(r['job_id'])));
  const started: number[] = [];
  const stages = Object.fromEntries(STAGES.map((k) => [k, [] as number[]])) as Record<Stage, number[]>;
  for (const r of resDocs) {
    const e = events.get(String(r['event_id']));
    if (e === undefined || !(r['start'] instanceof Date)) continue;
    const start = r['start'].getTime();
    started.push(start - e.sentAt);
    const job = jobs.get(String(r['job_id']));
    if (job === undefined) continue;
    stages.router.push(e.stampedAt - e.sentAt);
    stages.sub.push(e.receivedAt - e.stampedAt);
    stages.archive.push(job.timestamp - e.receivedAt);
    stages.queue.push(job.processedOn - job.timestamp);
    stages.worker.push(start - job.processedOn);
  }
  return {
    rate,
    sent: paced.sent,
    maxSendLagMs: paced.maxLagMs,
    results: resDocs.length,
    handlerStart: latencySummary(started),
    archived: latencySummary(archived),
    breakdown: Object.fromEntries(STAGES.map((k) => [k, roundSummary(latencySummary(stages[k]))])) as Record<Stage, Summary>,
  };
}

/** The queue of the bench's one entry (tsfunc `noop.run`) under `key`. */
function entryQueueOf(queue: string, key: string): string {
  return entryQueueName(queue, key, handlerId('tsfunc', 'noop.run'));
}

function roundSummary(s: Summary): Summary {
  return { n: s.n, p50: round(s.p50, 1), p99: round(s.p99, 1), max: round(s.max, 1) };
}

/** Read `timestamp` and `processedOn` of BullMQ jobs straight from their hashes, pipelined. */
function bullJobTimes(redisUrl: string, prefix: string, queue: string): JobTimes {
  return async (jobIds) => {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      const out = new Map<string, { timestamp: number; processedOn: number }>();
      for (let i = 0; i < jobIds.length; i += 1000) {
        const slice = jobIds.slice(i, i + 1000);
        const pipe = redis.pipeline();
        for (const id of slice) pipe.hmget(`${prefix}:${queue}:${id}`, 'timestamp', 'processedOn');
        const replies = (await pipe.exec()) ?? [];
        replies.forEach(([err, v], k) => {
          const [ts, on] = (v ?? []) as (string | null)[];
          if (!err && ts && on) out.set(slice[k]!, { timestamp: Number(ts), processedOn: Number(on) });
        });
      }
      return out;
    } finally {
      redis.disconnect();
    }
  };
}

async function main(): Promise<void> {
  const events = intOption('events', 'BENCH_E2E_EVENTS', 20_000);
  const rate = intOption('rate', 'BENCH_LATENCY_RATE', 1000);
  const seconds = intOption('seconds', 'BENCH_LATENCY_SECONDS', 10);
  const concurrency = intOption('concurrency', 'BENCH_CONCURRENCY', 50);
  const logLevel = choiceOption('log-level', 'BENCH_LOG_LEVEL', ['DEBUG', 'INFO', 'WARNING', 'ERROR'], 'INFO');
  const baselines = choiceOption('baselines', 'BENCH_BASELINES', ['on', 'off'], 'on') === 'on';
  const keep = choiceOption('keep', 'BENCH_KEEP', ['on', 'off'], 'off') === 'on';
  watchdog(NAME, 15 * 60_000);
  const started = performance.now();
  ensureBuilt();

  const log = createLogger({ level: 'warn', name: 'bench', destination: pino.destination({ dest: 2, sync: true }) });
  let services: LocalServices | undefined;
  let client: MongoClient | undefined;
  let dir: string | undefined;
  const database = runName('bench_e2e');
  const queueName = runName('bench-e2e');
  const cleanup = async (): Promise<void> => {
    await procs.stopAll(3000);
    if (client && process.env['MONGO_URL'])
      await client
        .db(database)
        .dropDatabase()
        .catch(() => undefined);
    if (client && process.env['MONGO_URL'])
      await client
        .db(`${database}_bare`)
        .dropDatabase()
        .catch(() => undefined);
    await client?.close().catch(() => undefined);
    if (services && process.env['REDIS_URL']) {
      for (const name of [...legacyQueueNames(queueName), ...Object.values(KEYS).map((k) => entryQueueOf(queueName, k))]) {
        const q = new Queue(name, { connection: { url: services.redisUrl, maxRetriesPerRequest: null }, prefix: 'bull' });
        await q.obliterate({ force: true }).catch(() => undefined);
        await q.close();
      }
    }
    await services?.stop().catch(() => undefined);
    if (dir && !keep && problems.length === 0) await rm(dir, { recursive: true, force: true });
    else if (dir) progress(NAME, `logs and config kept in ${dir}`);
  };
  onSignals(cleanup);

  try {
    progress(NAME, 'starting Redis and MongoDB (FerretDB) unless REDIS_URL / MONGO_URL are set');
    services = await startLocalServices({ redisUrl: process.env['REDIS_URL'] || undefined, mongoUrl: process.env['MONGO_URL'] || undefined, log });
    dir = await mkdtemp(join(tmpdir(), 'event-reactor-bench-e2e-'));
    const ports = await routerPorts();
    const config = await writeBenchConfig({
      dir,
      ports,
      logLevel,
      redisUrl: services.redisUrl,
      mongoUrl: services.mongoUrl,
      database,
      queue: queueName,
      handlers: { [KEYS.warmup]: ['noop.run'], [KEYS.tput]: ['noop.run'], [KEYS.lat]: ['noop.run'] },
      modules: { 'noop.ts': 'export function run() { return null; }\n' },
    });
    client = new MongoClient(services.mongoUrl, { serverSelectionTimeoutMS: 10_000 });
    await client.connect();

    // CPU of the servers and of this process (the client side), per document or job.
    const basePids: Record<string, number> = { bench: process.pid };
    for (const s of services.started) basePids[s.name] = s.pid;
    const runBaselines = (when: 'before' | 'after'): Promise<ComponentBaselines> =>
      componentBaselines(client!.db(`${database}_bare`), when, services!.redisUrl, `${queueName}-bare`, events, concurrency, basePids, (m) =>
        progress(NAME, `(c) baselines ${when} the pipeline: ${m}`),
      );
    const baselinesBefore = baselines ? await runBaselines('before') : undefined;

    progress(NAME, `starting event-router, event-sub, event-worker --concurrency ${concurrency} (log level ${logLevel}, logs in ${dir})`);
    // The start-up lines are logged at INFO; above it, the warm-up below is the only readiness check.
    const ready = async (d: DaemonProcess, msg: string): Promise<void> => {
      if (logLevel === 'INFO' || logLevel === 'DEBUG') await waitForLog(d, msg, START_TIMEOUT_MS);
    };
    const daemons: DaemonProcess[] = [];
    const router = startDaemon(procs, ROOT, 'event-router', config, [], dir);
    daemons.push(router);
    await ready(router, 'router listening');
    const sub = startDaemon(procs, ROOT, 'event-sub', config, [], dir);
    daemons.push(sub);
    await ready(sub, 'subscriber connected');
    const worker = startDaemon(procs, ROOT, 'event-worker', config, ['--concurrency', String(concurrency)], dir);
    daemons.push(worker);
    await ready(worker, 'worker started');

    const db = client.db(database);
    const push = new zmq.Push({ linger: 5000 });
    push.connect(`tcp://127.0.0.1:${ports.pull}`);

    // The SUB socket joins the PUB stream asynchronously and the worker loads the tsfunc
    // module on its first job: probe until one probe has gone all the way through.
    progress(NAME, 'warming up: probing until one event has gone all the way to results');
    const warmDeadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      await push.send(probeJson('bench.warmup'));
      if ((await db.collection('results').countDocuments({ key: KEYS.warmup })) > 0) break;
      const gone = daemons.find((d) => d.child.exitCode !== null || d.child.signalCode !== null);
      if (gone) throw new Error(`${gone.name} exited during warm-up:\n${logTail(gone.logFile)}`);
      if (performance.now() > warmDeadline) throw new Error(`no warm-up event reached results within ${START_TIMEOUT_MS / 1000} s`);
      await sleep(200);
    }

    // Each handler entry has its queue: the throughput and the latency phases each count their own.
    const benchQueues = [KEYS.tput, KEYS.lat].map(
      (k) => new Queue(entryQueueOf(queueName, k), { connection: { url: services!.redisUrl, maxRetriesPerRequest: null }, prefix: 'bull' }),
    );
    for (const q of benchQueues) q.on('error', () => undefined);
    const countAll = async (...states: JobType[]): Promise<Record<string, number>> => {
      const total: Record<string, number> = {};
      for (const q of benchQueues) for (const [k, n] of Object.entries(await q.getJobCounts(...states))) total[k] = (total[k] ?? 0) + n;
      return total;
    };
    const completed: CompletedCount = async () => (await countAll('completed'))['completed'] ?? 0;
    const pids: Record<string, number> = { router: router.pid, sub: sub.pid, worker: worker.pid };
    for (const s of services.started) pids[s.name] = s.pid;

    progress(NAME, `(a) throughput: ${fmtInt(events)} events as fast as the router takes them`);
    const tput = await throughputPhase(db, push, events, pids, completed);
    if (tput.archived !== events) problems.push(`throughput: ${tput.archived}/${events} events archived`);
    if (tput.results !== events) problems.push(`throughput: ${tput.results}/${events} results`);
    if (tput.resultsOk !== tput.results) problems.push(`throughput: ${tput.results - tput.resultsOk} results not ok`);
    progress(NAME, `  ${fmtInt(tput.eventsPerS)} events/s end to end`);

    await sleep(1000);
    progress(NAME, `(b) latency: ${rate} events/s for ${seconds} s`);
    const lat = await latencyPhase(db, push, rate, seconds, completed, bullJobTimes(services.redisUrl, 'bull', entryQueueOf(queueName, KEYS.lat)));
    if (lat.results !== lat.sent) problems.push(`latency: ${lat.results}/${lat.sent} results`);
    progress(NAME, `  fire -> handler start p50 ${lat.handlerStart.p50} ms, p99 ${lat.handlerStart.p99} ms`);
    push.close();

    const jobCounts = await countAll('completed', 'failed', 'waiting', 'active', 'delayed');
    for (const q of benchQueues) await q.close();
    if ((jobCounts['failed'] ?? 0) > 0) problems.push(`BullMQ: ${jobCounts['failed']} failed jobs`);

    progress(NAME, 'stopping the daemons with SIGTERM (router, sub, worker)');
    const exits: Record<string, string> = {};
    for (const d of daemons) {
      const t = performance.now();
      const e = await stopProcess(d.child, 20_000);
      exits[d.name] = `exit ${e.code ?? e.signal}${e.killed ? ' (SIGKILL after 20 s)' : ''} in ${Math.round(performance.now() - t)} ms`;
      if (e.code !== 0 || e.killed) problems.push(`${d.name}: ${exits[d.name]}`);
    }
    for (const d of daemons) {
      const byMsg = new Map<string, number>();
      for (const l of logProblems(d.logFile)) byMsg.set(String(l['msg']), (byMsg.get(String(l['msg'])) ?? 0) + 1);
      for (const [msg, n] of byMsg) problems.push(`${d.name} logged "${msg}" x${n}`);
    }

    progress(NAME, `bare ZeroMQ PUSH -> PULL hop: ${rate} events/s for ${Math.min(seconds, 5)} s`);
    const hop = await hopLatencyBaseline(rate, Math.min(seconds, 5));

    const baselinesAfter = baselines ? await runBaselines('after') : undefined;
    const base = baselinesBefore && baselinesAfter ? meanBaselines([baselinesBefore, baselinesAfter]) : undefined;
    const ceiling = base ? ceilingRate(base) : undefined;
    const ceilingCpu = base ? ceilingCpuUs(base) : undefined;
    const ratio = ceiling === undefined ? undefined : tput.eventsPerS / ceiling;

    const f = (x: number): string => fmtInt(x);
    const cpu = (m: Record<string, number>): string =>
      Object.entries(m)
        .map(([k, v]) => `${k} ${f(v)}`)
        .join(', ');
    const cpuTotal = Object.values(tput.cpuUsPerEvent).reduce((a, b) => a + b, 0);
    printTable(
      `End to end: router -> sub -> worker (no-op tsfunc), 1 KB events, worker concurrency ${concurrency}, log level ${logLevel}`,
      ['measure', 'value', 'note'],
      [
        [
          '(a) throughput, events/s',
          f(tput.eventsPerS),
          `${f(events)} events; target >= ${f(TARGET_EVENTS_PER_S)}/s: ${tput.eventsPerS >= TARGET_EVENTS_PER_S ? 'met' : 'NOT met'}`,
        ],
        ['    events archived / results ok', `${f(tput.archived)} / ${f(tput.resultsOk)}`, `of ${f(events)} sent`],
        ['    pushed / last archived', `${f(tput.sendMs)} / ${f(tput.lastArchivedMs)} ms`, 'after the first push'],
        ['    first start / last end', `${f(tput.firstStartMs)} / ${f(tput.lastEndMs)} ms`, 'handler runs, after the first push'],
        ['    all results stored', `${f(tput.totalMs)} ms`, 'jobs completed, polled every 50 ms'],
        ['    CPU, % of one core', f(Object.values(tput.cpuPct).reduce((a, b) => a + b, 0)), `${cpu(tput.cpuPct)} (2 cores = 200)`],
        ['    CPU, µs per event', f(cpuTotal), `${cpu(tput.cpuUsPerEvent)}: at most ${f(2e6 / cpuTotal)} events/s on 2 cores`],
        [
          '(b) fire -> handler start p50 / p99',
          `${lat.handlerStart.p50} / ${lat.handlerStart.p99} ms`,
          `${f(lat.sent)} events at ${rate}/s; max ${lat.handlerStart.max} ms; target p99 < ${LATENCY_P99_TARGET_MS} ms: ${lat.handlerStart.p99 < LATENCY_P99_TARGET_MS ? 'met' : 'NOT met'}`,
        ],
        ['    fire -> archived p50 / p99', `${lat.archived.p50} / ${lat.archived.p99} ms`, 'events.received_at'],
        ...STAGES.map((k) => [`      ${k} p50 / p99`, `${lat.breakdown[k].p50} / ${lat.breakdown[k].p99} ms`, STAGE_NOTES[k]]),
        ['    bare PUSH->PULL hop p50 / p99', `${round(hop.p50, 3)} / ${round(hop.p99, 3)} ms`, `${f(hop.n)} events, ${rate}/s, one process`],
        ...(base && baselinesBefore && baselinesAfter && ceiling !== undefined && ratio !== undefined && ceilingCpu !== undefined
          ? [
              [
                '(c) bare insertMany, docs/s',
                f(base.insertPlain.value.docsPerS),
                `500 per batch, ${round(base.insertPlain.value.medianBatchMs)} ms/batch; CPU µs/doc: ${cpu(base.insertPlain.cpuUsPerItem)}`,
              ],
              [
                '    same + events indexes, docs/s',
                f(base.insertIndexed.value.docsPerS),
                `${round(base.insertIndexed.value.medianBatchMs)} ms/batch; CPU µs/doc: ${cpu(base.insertIndexed.cpuUsPerItem)}`,
              ],
              ['    bare BullMQ addBulk, jobs/s', f(base.bullmq.value.addPerS), '500 per batch, 1 KB event per job'],
              [
                '    bare BullMQ worker, jobs/s',
                f(base.bullmq.value.processPerS),
                `no-op, concurrency ${concurrency}; add+run CPU µs/job: ${cpu(base.bullmq.cpuUsPerItem)}`,
              ],
              [
                '    bare insertMany results, docs/s',
                f(base.resultInsert.value.docsPerS),
                `500 per batch, results indexes, ${round(base.resultInsert.value.medianBatchMs)} ms/batch; CPU µs/doc: ${cpu(base.resultInsert.cpuUsPerItem)}`,
              ],
              [
                '(d) ceiling, events/s',
                f(ceiling),
                `1 / (1/insert indexed + 1/BullMQ add + 1/BullMQ run + 1/insert result); before ${f(ceilingRate(baselinesBefore))}, after ${f(ceilingRate(baselinesAfter))}`,
              ],
              [
                '    end to end / ceiling',
                round(ratio, 2).toFixed(2),
                `target >= ${CEILING_RATIO_TARGET}: ${ratio >= CEILING_RATIO_TARGET ? 'met' : 'NOT met'}`,
              ],
              [
                '    ceiling CPU, µs per event',
                f(ceilingCpu),
                `the baselines' client + server CPU per item, summed: at most ${f(2e6 / ceilingCpu)} events/s on 2 cores`,
              ],
            ]
          : []),
      ],
      ['l', 'r', 'l'],
    );
    if (problems.length > 0) process.stdout.write(`problems:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    else process.stdout.write('problems: none\n');
    printJson({
      bench: NAME,
      events,
      concurrency,
      log_level: logLevel,
      throughput: {
        ...tput,
        eventsPerS: round(tput.eventsPerS),
        pollMeanMs: round(tput.pollMeanMs, 1),
        target_events_per_s: TARGET_EVENTS_PER_S,
        target_met: tput.eventsPerS >= TARGET_EVENTS_PER_S,
      },
      latency: { ...lat, target_p99_ms: LATENCY_P99_TARGET_MS, target_met: lat.handlerStart.p99 < LATENCY_P99_TARGET_MS },
      ceiling_events_per_s: ceiling === undefined ? null : round(ceiling),
      ceiling_events_per_s_before: baselinesBefore ? round(ceilingRate(baselinesBefore)) : null,
      ceiling_events_per_s_after: baselinesAfter ? round(ceilingRate(baselinesAfter)) : null,
      ratio_to_ceiling: ratio === undefined ? null : round(ratio, 3),
      ratio_target: CEILING_RATIO_TARGET,
      ceiling_cpu_us_per_event: ceilingCpu ?? null,
      hop_latency_ms: { n: hop.n, p50: round(hop.p50, 3), p99: round(hop.p99, 3), max: round(hop.max, 3) },
      baselines: base
        ? {
            mongo_insert_plain: base.insertPlain,
            mongo_insert_indexed: base.insertIndexed,
            bullmq: base.bullmq,
            result_insert: base.resultInsert,
            runs: { before: baselinesBefore, after: baselinesAfter },
          }
        : null,
      job_counts: jobCounts,
      daemon_exits: exits,
      problems,
      elapsed_s: round((performance.now() - started) / 1000, 1),
    });
  } catch (err) {
    problems.push(`bench failed: ${(err as Error).message}`);
    throw err;
  } finally {
    await cleanup();
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`${NAME}: ${(err as Error)?.stack ?? String(err)}\n`);
  await procs.stopAll(1000);
  process.exit(1);
});
