/**
 * The subscriber's throughput with 1,000 handler entries loaded against one, same run.
 *
 *   node --import tsx bench/sub-rules.ts [--events 10000] [--rounds 2] [--handlers 1000]
 *
 * Starts Redis and FerretDB (startLocalServices; REDIS_URL / MONGO_URL are used instead
 * when set) and, for each run, `bin/event-router` and `bin/event-sub` as separate
 * processes on a fresh database and queue (no worker: jobs stay queued). `events` 1 KB
 * events of `local:bench.rules` are pushed as fast as the router takes them; a run's rate
 * is events over the time from the first send until the last is archived (polled), and
 * the subscriber's CPU per event is read from /proc.
 *
 * The tables, each with one entry that runs for every event (one job per event in both):
 * - one: that entry alone;
 * - many: that entry and `handlers - 1` others that do not apply to the stream: exact keys
 *   of other event types (about 70%), globs that do not match its key (about 30%), half
 *   of them with content patterns. What 1,000 rules cost an event they do not concern.
 * - skips: as many, but 10 of the others are globs that match the stream's key with a
 *   `when` that fails, so each event gets 10 skipped decisions explained and recorded (as
 *   an operator's broad rules would): the cost of rules that do concern the event.
 *
 * Runs alternate one, many, skips, skips, many, one (`rounds` times) so drift in the
 * machine's load falls on all; the figures are ratios of the medians to one's
 * (target for many >= 0.9).
 *
 * Env: BENCH_SUB_EVENTS, BENCH_SUB_ROUNDS, BENCH_HANDLERS.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import * as zmq from 'zeromq';
import { startLocalServices, type LocalServices } from '../src/devstack/services.js';
import { createLogger } from '../src/logger.js';
import { eventJson, probeJson } from './lib/events.js';
import { intOption } from './lib/options.js';
import { ProcessSet, cpuSeconds, onSignals, watchdog } from './lib/processes.js';
import { printJson, printTable, progress } from './lib/report.js';
import { logTail, routerPorts, runName, startDaemon, waitForLog, writeBenchConfig } from './lib/stack.js';
import { fmtInt, median, round } from './lib/stats.js';

const NAME = 'sub-rules';
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const KEY = 'local:bench.rules';
const RATIO_TARGET = 0.9;
const START_TIMEOUT_MS = 60_000;
const STALL_MS = 30_000;
/** Globs that match the stream's key and carry a `when` that fails: skipped decisions per event. */
const MATCHING_SKIPS = 10;

const procs = new ProcessSet();

type Table = Record<string, Record<string, unknown>[]>;

const RUNS = { driver: 'tsfunc', handler: 'noop.run' };

type Kind = 'one' | 'many' | 'skips';

/** The table of `n` entries (see the header), `skips` of them matching with a failing `when`; deterministic. */
function table(n: number, skips: number): Table {
  const t: Table = { [KEY]: [RUNS] };
  const add = (key: string, entry: Record<string, unknown>): void => void (t[key] ??= []).push(entry);
  const when = (i: number): Record<string, unknown> =>
    i % 2 === 0 ? { when: { payload: { i: [{ numeric: ['<', -i] }], host: [{ prefix: `web-${i}` }] } } } : {};
  for (let i = 1; i < n - skips; i++) {
    const entry = { driver: 'shell', handler: `noop-${i}.sh`, ...when(i) };
    if (i % 10 < 7) add(`ns${i % 13}:type.${i}`, entry);
    else if (i % 10 < 9) add(`ns${i % 13}:type.${i}.*`, entry);
    else add(`*:other.${i}`, entry);
  }
  for (let i = 0; i < skips; i++)
    add(i % 2 === 0 ? 'local:bench.*' : '*:bench.rules', { driver: 'shell', handler: `skip-${i}.sh`, when: { payload: { i: [{ numeric: ['<', 0] }] } } });
  return t;
}

interface Run {
  table: Kind;
  entries: number;
  eventsPerS: number;
  subCpuUsPerEvent: number;
}

async function oneRun(services: LocalServices, client: MongoClient, kind: Kind, entries: number, events: number): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'event-reactor-bench-sub-'));
  const database = runName('bench_sub');
  const ports = await routerPorts();
  const config = await writeBenchConfig({
    dir,
    ports,
    logLevel: 'WARNING',
    redisUrl: services.redisUrl,
    mongoUrl: services.mongoUrl,
    database,
    queue: runName('bench-sub'),
    modules: { 'noop.ts': 'export function run() { return null; }\n' },
  });
  const t = table(entries, kind === 'skips' ? MATCHING_SKIPS : 0);
  await writeFile(join(dir, 'event-handlers.json'), `${JSON.stringify(t)}\n`);
  const started = [startDaemon(procs, ROOT, 'event-router', config, ['-l', 'INFO'], dir)];
  await waitForLog(started[0]!, 'router listening', START_TIMEOUT_MS);
  const sub = startDaemon(procs, ROOT, 'event-sub', config, ['-l', 'INFO'], dir);
  started.push(sub);
  await waitForLog(sub, 'subscriber connected', START_TIMEOUT_MS);
  const push = new zmq.Push({ linger: 5000 });
  push.connect(`tcp://127.0.0.1:${ports.pull}`);
  const coll = client.db(database).collection('events');
  try {
    // The SUB socket joins the PUB stream asynchronously: probe until one is archived.
    const deadline = performance.now() + START_TIMEOUT_MS;
    while ((await coll.countDocuments({ event_type: 'bench.probe' })) === 0) {
      if (performance.now() > deadline) throw new Error(`no probe archived within ${START_TIMEOUT_MS / 1000} s:\n${logTail(sub.logFile)}`);
      await push.send(probeJson('bench.probe'));
      await sleep(200);
    }
    const cpu0 = cpuSeconds(sub.pid) ?? 0;
    const t0 = performance.now();
    for (let i = 0; i < events; i++) await push.send(eventJson('bench.rules', { i, host: `db-${i % 50}` }));
    let archived = 0;
    let last = { n: -1, at: performance.now() };
    while (archived < events) {
      await sleep(50);
      archived = await coll.countDocuments({ event_type: 'bench.rules' });
      if (archived !== last.n) last = { n: archived, at: performance.now() };
      else if (performance.now() - last.at > STALL_MS) throw new Error(`${kind}: stalled at ${archived}/${events} archived:\n${logTail(sub.logFile)}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = (cpuSeconds(sub.pid) ?? cpu0) - cpu0;
    // Every event ran through the rules: one decision that runs, and the skips of the big table.
    const doc = await coll.findOne({ event_type: 'bench.rules' });
    const decisions = (doc?.['decisions'] as { run: boolean }[] | undefined) ?? [];
    const want = kind === 'skips' ? 1 + MATCHING_SKIPS : 1;
    if (decisions.length !== want || decisions.filter((d) => d.run).length !== 1)
      throw new Error(`${kind}: expected ${want} decisions with one run, got ${JSON.stringify(decisions)}`);
    return { table: kind, entries, eventsPerS: events / seconds, subCpuUsPerEvent: (cpu * 1e6) / events };
  } finally {
    push.close();
    await procs.stopAll(5000);
    await client
      .db(database)
      .dropDatabase()
      .catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const events = intOption('events', 'BENCH_SUB_EVENTS', 10_000);
  const rounds = intOption('rounds', 'BENCH_SUB_ROUNDS', 2);
  const handlers = intOption('handlers', 'BENCH_HANDLERS', 1000);
  watchdog(NAME, 15 * 60_000);
  if (!existsSync(join(ROOT, 'dist/event-reactor.js'))) throw new Error('dist/ is missing: run npm run build first (npm run bench does)');
  const entries = Object.values(table(handlers, 0)).reduce((n, list) => n + list.length, 0);
  const log = createLogger({ level: 'warn', name: 'bench', destination: pino.destination({ dest: 2, sync: true }) });
  progress(NAME, 'starting Redis and MongoDB (FerretDB) unless REDIS_URL / MONGO_URL are set');
  const services = await startLocalServices({ redisUrl: process.env['REDIS_URL'] || undefined, mongoUrl: process.env['MONGO_URL'] || undefined, log });
  const client = new MongoClient(services.mongoUrl, { serverSelectionTimeoutMS: 10_000 });
  onSignals(async () => {
    await procs.stopAll(3000);
    await client.close().catch(() => undefined);
    await services.stop().catch(() => undefined);
  });
  try {
    await client.connect();
    const runs: Run[] = [];
    const order: Kind[] = [];
    for (let r = 0; r < rounds; r++) order.push('one', 'many', 'skips', 'skips', 'many', 'one');
    for (const kind of order) {
      const n = kind === 'one' ? 1 : entries;
      progress(NAME, `${kind}: ${n} entries, ${fmtInt(events)} events`);
      const run = await oneRun(services, client, kind, n, events);
      progress(NAME, `  ${fmtInt(run.eventsPerS)} events/s, subscriber ${round(run.subCpuUsPerEvent)} µs CPU/event`);
      runs.push(run);
    }
    const med = (kind: Kind, f: (r: Run) => number): number => median(runs.filter((r) => r.table === kind).map(f));
    const rate = (kind: Kind): number => med(kind, (r) => r.eventsPerS);
    const cpu = (kind: Kind): number => round(med(kind, (r) => r.subCpuUsPerEvent));
    const ratio = round(rate('many') / rate('one'), 2);
    const skipsRatio = round(rate('skips') / rate('one'), 2);
    printTable(
      `subscriber with ${entries} entries against 1 (medians of ${rounds * 2} runs each, load ${loadavg()[0]!.toFixed(1)})`,
      ['table', 'entries', 'skipped decisions per event', 'events/s', 'ratio to one', 'sub CPU µs/event'],
      [
        ['one', '1', '0', fmtInt(rate('one')), '1', String(cpu('one'))],
        ['many', String(entries), '0', fmtInt(rate('many')), String(ratio), String(cpu('many'))],
        ['skips', String(entries), String(MATCHING_SKIPS), fmtInt(rate('skips')), String(skipsRatio), String(cpu('skips'))],
      ],
    );
    process.stdout.write(
      `ratio ${ratio} (target >= ${RATIO_TARGET}: ${ratio >= RATIO_TARGET ? 'met' : 'not met'}); with ${MATCHING_SKIPS} skipped decisions per event ${skipsRatio}\n`,
    );
    printJson({
      bench: NAME,
      events,
      entries,
      one_events_per_s: round(rate('one')),
      many_events_per_s: round(rate('many')),
      skips_events_per_s: round(rate('skips')),
      one_sub_cpu_us: cpu('one'),
      many_sub_cpu_us: cpu('many'),
      skips_sub_cpu_us: cpu('skips'),
      ratio,
      skips_ratio: skipsRatio,
      runs,
    });
  } finally {
    await client.close().catch(() => undefined);
    await services.stop().catch(() => undefined);
  }
}

await main();
