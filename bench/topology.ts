/**
 * Two routers and two subscribers against one of each, same run: what scaling out buys
 * on this machine, as ratios.
 *
 *   node --import tsx bench/topology.ts [--events 10000] [--rounds 2]
 *
 * Starts Redis and FerretDB (startLocalServices; REDIS_URL / MONGO_URL are used instead
 * when set) and, for each run, the layout's `bin/event-router`s and `bin/event-sub`s as
 * separate processes on a fresh database and queue, each router with its own name (its
 * own journal in Redis, the default `router.journal`). No worker: the run ends when every
 * event is archived and its job enqueued (polled in BullMQ, cheap, instead of counting in
 * FerretDB), and the archive is checked once at the end. Layouts:
 *
 * - one: one router, one subscriber (the baseline of the ratios);
 * - split: two routers, two subscribers, each following one router: scale-out, each
 *   event handled by one router and one subscriber;
 * - shared: two routers, two subscribers, each following both: redundancy (either may
 *   die), each event archived and enqueued by both, taken once (`_id`, job id).
 *
 * `events` 1 KB events of `local:bench.topo` (one no-op tsfunc entry, one job each) are
 * pushed as fast as the routers take them on one PUSH socket connected to every router of
 * the layout (ZeroMQ balances). A run's rate is events over the time from the first send
 * until the last job is enqueued; the CPU of every process (routers, subscribers, Redis,
 * FerretDB) is read from /proc and given per event.
 *
 * The bare baseline, in the same run: the stores alone, with no daemon: insertMany of as
 * many event documents (the archive's shape and indexes, batches of 500) and BullMQ
 * addBulk of as many jobs (batches of 500), before the runs and after; its CPU per event
 * is the floor of what archiving and enqueuing costs the stores.
 *
 * Runs alternate one, split, shared, shared, split, one (`rounds` times) so drift in the
 * machine's load falls on all; figures are medians, printed as ratios to one's.
 *
 * Env: BENCH_TOPO_EVENTS, BENCH_TOPO_ROUNDS.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import pino from 'pino';
import * as zmq from 'zeromq';
import { startLocalServices, type LocalServices } from '../src/devstack/services.js';
import { createLogger } from '../src/logger.js';
import { cpuPerItem, mongoInsertBaseline, sampleEvent } from './lib/baselines.js';
import { eventJson, probeJson } from './lib/events.js';
import { intOption } from './lib/options.js';
import { ProcessSet, cpuSeconds, onSignals, watchdog } from './lib/processes.js';
import { printJson, printTable, progress } from './lib/report.js';
import { logProblems, logTail, routerPorts, runName, startDaemon, waitForLog, writeBenchConfig, type DaemonProcess, type RouterPorts } from './lib/stack.js';
import { fmtInt, median, meanRate, round } from './lib/stats.js';

const NAME = 'topology';
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const EVENT_TYPE = 'bench.topo';
const START_TIMEOUT_MS = 60_000;
const STALL_MS = 30_000;

const LAYOUTS = {
  one: { routers: 1, follows: [[0]] },
  split: { routers: 2, follows: [[0], [1]] },
  shared: {
    routers: 2,
    follows: [
      [0, 1],
      [0, 1],
    ],
  },
} as const;
type Kind = keyof typeof LAYOUTS;

/** CPU µs per event of each kind of process. */
type Cpu = { router: number; sub: number; redis: number; mongo: number; total: number };

interface Run {
  layout: Kind;
  eventsPerS: number;
  cpuUsPerEvent: Cpu;
  /** Warnings and errors the daemons logged, by message. */
  problems: Record<string, number>;
}

const procs = new ProcessSet();

/** The configs of a layout: one per router, one per subscriber, from the bench's single-router config. */
async function writeLayout(
  dir: string,
  services: LocalServices,
  database: string,
  queue: string,
  kind: Kind,
): Promise<{ routers: { file: string; ports: RouterPorts; name: string }[]; subs: { file: string; cursors: string[] }[] }> {
  const layout = LAYOUTS[kind];
  const ports: RouterPorts[] = [];
  for (let i = 0; i < layout.routers; i++) ports.push(await routerPorts());
  const baseFile = await writeBenchConfig({
    dir,
    ports: ports[0]!,
    logLevel: 'INFO',
    redisUrl: services.redisUrl,
    mongoUrl: services.mongoUrl,
    database,
    queue,
    handlers: { [`local:${EVENT_TYPE}`]: ['noop.run'] },
    modules: { 'noop.ts': 'export function run() { return null; }\n' },
  });
  const base = JSON.parse(await readFile(baseFile, 'utf8')) as Record<string, Record<string, unknown>> & {
    aggregator: { config: Record<string, unknown> };
    feeds: { feeders: { config: Record<string, unknown> }[] };
    outputs: { config: Record<string, unknown> }[];
  };
  // Metrics on free ports (two daemons of a kind on one host); router names unique per
  // run, so each run's journals are its own in the shared Redis.
  base['http'] = { router: '127.0.0.1:0', sub: '127.0.0.1:0', worker: '127.0.0.1:0' };
  const names = ports.map((_, i) => `${queue}-r${i + 1}`);
  const routers = [];
  for (const [i, p] of ports.entries()) {
    const c = structuredClone(base);
    c.aggregator.config['port'] = p.pull;
    c.feeds.feeders[0]!.config['uri'] = `tcp://127.0.0.1:${p.rep}`;
    c.outputs[0]!.config['port'] = p.pub;
    c['router'] = { replay_bind: `tcp://127.0.0.1:${p.replay}`, name: names[i] };
    const file = join(dir, `router-${i + 1}.json`);
    await writeFile(file, JSON.stringify(c, null, 2));
    routers.push({ file, ports: p, name: names[i]! });
  }
  const subs = [];
  for (const [j, follows] of layout.follows.entries()) {
    const c = structuredClone(base);
    const name = `s${j + 1}`;
    c['subscriber'] = {
      name,
      routers: follows.map((i) => ({ name: names[i], publisher_uri: `tcp://127.0.0.1:${ports[i]!.pub}`, replay_uri: `tcp://127.0.0.1:${ports[i]!.replay}` })),
    };
    const file = join(dir, `sub-${j + 1}.json`);
    await writeFile(file, JSON.stringify(c, null, 2));
    subs.push({ file, cursors: follows.map((i) => `${name}@${names[i]}`) });
  }
  return { routers, subs };
}

/** Each daemon in a directory of its own (startDaemon names the log after the bin). */
async function start(bin: string, file: string, logDir: string, ready: string): Promise<DaemonProcess> {
  await mkdir(logDir, { recursive: true });
  const d = startDaemon(procs, ROOT, bin, file, ['-l', 'INFO'], logDir);
  await waitForLog(d, ready, START_TIMEOUT_MS);
  return d;
}

async function oneRun(services: LocalServices, client: MongoClient, kind: Kind, events: number): Promise<Run> {
  const dir = await mkdtemp(join(tmpdir(), 'event-reactor-bench-topo-'));
  const database = runName('bench_topo');
  const queueName = runName('bench-topo');
  const layout = await writeLayout(dir, services, database, queueName, kind);
  const connection = { url: services.redisUrl, maxRetriesPerRequest: null };
  const queue = new Queue(queueName, { connection, prefix: 'bull' });
  queue.on('error', () => undefined);
  const push = new zmq.Push({ linger: 5000 });
  try {
    const routers = [];
    for (const [i, r] of layout.routers.entries()) routers.push(await start('event-router', r.file, join(dir, `r${i + 1}`), 'router listening'));
    const subs = [];
    for (const [j, s] of layout.subs.entries()) subs.push(await start('event-sub', s.file, join(dir, `s${j + 1}`), 'subscriber connected'));
    for (const r of layout.routers) push.connect(`tcp://127.0.0.1:${r.ports.pull}`);
    // SUB sockets join the PUB streams asynchronously: probe every router until every
    // subscriber has saved a cursor for every router it follows.
    const db = client.db(database);
    const cursorIds = layout.subs.flatMap((s) => s.cursors);
    const probes = layout.routers.map((r) => {
      const p = new zmq.Push({ linger: 0 });
      p.connect(`tcp://127.0.0.1:${r.ports.pull}`);
      return p;
    });
    try {
      const deadline = performance.now() + START_TIMEOUT_MS;
      while ((await db.collection('cursors').countDocuments({ _id: { $in: cursorIds } as never })) < cursorIds.length) {
        if (performance.now() > deadline)
          throw new Error(`${kind}: not every subscriber joined every router within ${START_TIMEOUT_MS / 1000} s:\n${logTail(subs[0]!.logFile)}`);
        for (const p of probes) await p.send(probeJson(EVENT_TYPE));
        await sleep(200);
      }
    } finally {
      for (const p of probes) p.close();
    }
    await sleep(500);
    const enqueued = async (): Promise<number> => {
      const c = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
      return Object.values(c).reduce((a, b) => a + b, 0);
    };
    const base = await enqueued();
    const pids: Record<string, number> = {};
    routers.forEach((d, i) => (pids[`router${i}`] = d.pid));
    subs.forEach((d, i) => (pids[`sub${i}`] = d.pid));
    for (const s of services.started) pids[s.name === 'redis' ? 'redis' : 'mongo'] = s.pid;
    const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid) ?? Number.NaN]));
    const t0 = performance.now();
    for (let i = 0; i < events; i++) await push.send(eventJson(EVENT_TYPE, { i }));
    let n = 0;
    let last = { n: -1, at: performance.now() };
    while (n < events) {
      await sleep(50);
      n = (await enqueued()) - base;
      if (n !== last.n) last = { n, at: performance.now() };
      else if (performance.now() - last.at > STALL_MS) throw new Error(`${kind}: stalled at ${n}/${events} enqueued:\n${logTail(subs[0]!.logFile)}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    const used = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, (((cpuSeconds(pid) ?? Number.NaN) - cpu0[k]!) * 1e6) / events]));
    const sum = (prefix: string): number => Object.entries(used).reduce((t, [k, v]) => (k.startsWith(prefix) ? t + v : t), 0);
    const cpu: Cpu = { router: sum('router'), sub: sum('sub'), redis: sum('redis'), mongo: sum('mongo'), total: 0 };
    cpu.total = cpu.router + cpu.sub + cpu.redis + cpu.mongo;
    const archived = await db.collection('events').countDocuments({ event_type: EVENT_TYPE, 'payload.i': { $exists: true } });
    if (archived !== events) throw new Error(`${kind}: ${archived}/${events} events archived`);
    const problems: Record<string, number> = {};
    for (const d of [...routers, ...subs]) for (const l of logProblems(d.logFile)) problems[String(l['msg'])] = (problems[String(l['msg'])] ?? 0) + 1;
    return { layout: kind, eventsPerS: events / seconds, cpuUsPerEvent: cpu, problems };
  } finally {
    push.close();
    await procs.stopAll(5000);
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await dropJournals(
      services.redisUrl,
      layout.routers.map((r) => r.name),
    );
    await client
      .db(database)
      .dropDatabase()
      .catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

async function dropJournals(redisUrl: string, names: string[]): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.del(...names.flatMap((n) => [`er:journal:{${n}}`, `er:journal-epochs:{${n}}`]));
  } catch {
    // A leftover journal in a throwaway Redis.
  } finally {
    redis.disconnect();
  }
}

interface Bare {
  insertPerS: number;
  addPerS: number;
  /** CPU µs per event of Redis, MongoDB and this process (the client), insert and add together. */
  cpuUsPerEvent: { redis: number; mongo: number; client: number; stores: number };
}

/** The stores alone: insertMany of `events` archive documents, BullMQ addBulk of as many jobs; see the header. */
async function bareStores(services: LocalServices, client: MongoClient, events: number, tag: string): Promise<Bare> {
  const pids: Record<string, number> = { client: process.pid };
  for (const s of services.started) pids[s.name === 'redis' ? 'redis' : 'mongo'] = s.pid;
  const database = runName('bench_topo_bare');
  const queueName = runName('bench-topo-bare');
  const queue = new Queue(queueName, { connection: { url: services.redisUrl, maxRetriesPerRequest: null }, prefix: 'bull' });
  queue.on('error', () => undefined);
  try {
    const insert = await cpuPerItem(pids, events, () => mongoInsertBaseline(client.db(database), `events_${tag}`, events, 500, true));
    const add = await cpuPerItem(pids, events, async () => {
      const t0 = performance.now();
      for (let i = 0; i < events; i += 500) {
        const jobs = Array.from({ length: Math.min(500, events - i) }, (_, k) => {
          const event = sampleEvent(i + k);
          return { name: `local:${EVENT_TYPE}`, data: { event }, opts: { jobId: `${event.id}.bare` } };
        });
        await queue.addBulk(jobs);
      }
      return (events * 1000) / (performance.now() - t0);
    });
    const both = (k: string): number => (insert.cpuUsPerItem[k] ?? Number.NaN) + (add.cpuUsPerItem[k] ?? Number.NaN);
    const cpu = { redis: both('redis'), mongo: both('mongo'), client: both('client'), stores: 0 };
    cpu.stores = cpu.redis + cpu.mongo;
    return { insertPerS: insert.value.docsPerS, addPerS: add.value, cpuUsPerEvent: cpu };
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    await client
      .db(database)
      .dropDatabase()
      .catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const events = intOption('events', 'BENCH_TOPO_EVENTS', 10_000);
  const rounds = intOption('rounds', 'BENCH_TOPO_ROUNDS', 2);
  watchdog(NAME, 20 * 60_000);
  if (!existsSync(join(ROOT, 'dist/event-reactor.js'))) throw new Error('dist/ is missing: run npm run build first (npm run bench does)');
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
    progress(NAME, `bare stores (insertMany + BullMQ addBulk of ${fmtInt(events)}), before the runs`);
    const bare = [await bareStores(services, client, events, 'before')];
    const runs: Run[] = [];
    const order: Kind[] = [];
    for (let r = 0; r < rounds; r++) order.push('one', 'split', 'shared', 'shared', 'split', 'one');
    for (const kind of order) {
      const l = LAYOUTS[kind];
      progress(NAME, `${kind}: ${l.routers} router(s), ${l.follows.length} subscriber(s), ${fmtInt(events)} events`);
      const run = await oneRun(services, client, kind, events);
      progress(
        NAME,
        `  ${fmtInt(run.eventsPerS)} events/s, CPU ${round(run.cpuUsPerEvent.total)} µs/event ${JSON.stringify(roundCpu(run.cpuUsPerEvent))}; logged ${JSON.stringify(run.problems)}`,
      );
      runs.push(run);
    }
    progress(NAME, 'bare stores, after the runs');
    bare.push(await bareStores(services, client, events, 'after'));
    const med = (kind: Kind, f: (r: Run) => number): number => median(runs.filter((r) => r.layout === kind).map(f));
    const rate = (kind: Kind): number => med(kind, (r) => r.eventsPerS);
    const cpu = (kind: Kind): Cpu => {
      const pick = (k: keyof Cpu): number => med(kind, (r) => r.cpuUsPerEvent[k]);
      return { router: pick('router'), sub: pick('sub'), redis: pick('redis'), mongo: pick('mongo'), total: pick('total') };
    };
    const bareCpu = (k: keyof Bare['cpuUsPerEvent']): number => (bare[0]!.cpuUsPerEvent[k] + bare[1]!.cpuUsPerEvent[k]) / 2;
    const bareRate = { insert: meanRate(bare.map((b) => b.insertPerS)), add: meanRate(bare.map((b) => b.addPerS)) };
    const kinds: Kind[] = ['one', 'split', 'shared'];
    const row = (k: Kind): string[] => {
      const c = cpu(k);
      return [
        k,
        `${LAYOUTS[k].routers} / ${LAYOUTS[k].follows.length}`,
        fmtInt(rate(k)),
        String(round(rate(k) / rate('one'), 2)),
        fmtInt(c.total),
        String(round(c.total / cpu('one').total, 2)),
        `${fmtInt(c.router)} / ${fmtInt(c.sub)} / ${fmtInt(c.redis)} / ${fmtInt(c.mongo)}`,
        String(round((c.redis + c.mongo) / bareCpu('stores'), 2)),
      ];
    };
    printTable(
      `${fmtInt(events)} events of 1 KB, medians of ${rounds * 2} runs each, load ${loadavg()[0]!.toFixed(1)}, ${cpuCount()} cores`,
      ['layout', 'routers / subs', 'events/s', 'ratio to one', 'CPU µs/event', 'ratio to one', 'router / sub / Redis / MongoDB µs', 'stores / bare stores'],
      kinds.map(row),
    );
    process.stdout.write(
      `bare stores, same run (mean of before and after): insertMany ${fmtInt(bareRate.insert)} docs/s, BullMQ addBulk ${fmtInt(bareRate.add)} jobs/s; ` +
        `CPU per event Redis ${fmtInt(bareCpu('redis'))} + MongoDB ${fmtInt(bareCpu('mongo'))} µs (client ${fmtInt(bareCpu('client'))})\n`,
    );
    printJson({
      bench: NAME,
      events,
      rounds,
      cores: cpuCount(),
      one_events_per_s: round(rate('one')),
      split_events_per_s: round(rate('split')),
      shared_events_per_s: round(rate('shared')),
      split_ratio: round(rate('split') / rate('one'), 2),
      shared_ratio: round(rate('shared') / rate('one'), 2),
      split_cpu_ratio: round(cpu('split').total / cpu('one').total, 2),
      shared_cpu_ratio: round(cpu('shared').total / cpu('one').total, 2),
      cpu_us_per_event: Object.fromEntries(kinds.map((k) => [k, roundCpu(cpu(k))])),
      bare: {
        insert_per_s: round(bareRate.insert),
        add_per_s: round(bareRate.add),
        cpu_us_per_event: { redis: round(bareCpu('redis')), mongo: round(bareCpu('mongo')), client: round(bareCpu('client')) },
        runs: bare,
      },
      runs: runs.map((r) => ({ ...r, eventsPerS: round(r.eventsPerS), cpuUsPerEvent: roundCpu(r.cpuUsPerEvent) })),
    });
  } finally {
    await client.close().catch(() => undefined);
    await services.stop().catch(() => undefined);
  }
}

function roundCpu(c: Cpu): Cpu {
  return { router: round(c.router), sub: round(c.sub), redis: round(c.redis), mongo: round(c.mongo), total: round(c.total) };
}

function cpuCount(): number {
  return availableParallelism();
}

await main();
