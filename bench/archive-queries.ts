/**
 * Query timings on an archive of 1,000,000 events: each question `events ls`, `events
 * show`, `results ls` and `status` ask of the archive (the web console asks the same),
 * through MongoArchive's own methods, with the query plan of every command they send.
 *
 *   node --import tsx bench/archive-queries.ts [--events 100000] [--batch 10000] [--runs 5] [--budget 60] [--only ls,show,...]
 *
 * Starts MongoDB (mongod when on PATH, else FerretDB 1.24 on SQLite; MONGO_URL is used
 * instead when set: no Redis is needed) and fills a fresh database as the subscriber and
 * the workers do: MongoArchive.connect (which creates the indexes), then insertEvents
 * (with each event's `decisions`) and insertResults, `batch` events and their results per
 * insert, the next batch made while one is stored. The events are those of
 * bench/lib/synthetic-archive.ts: 30 days, 200 Zipf-like keys, traces of 1-5 events linked
 * by `parent_event`, about one result per event, some failed, some dead. Fill rate: events
 * (and documents, events and results) per second.
 *
 * Then each query (`only` picks some, by id: see QUERY_IDS), on readers opened as the CLI
 * opens one (ensureIndexes false): a warm-up run on a connection with command monitoring
 * records the commands it sends and gives the rows; then `runs` timed runs on another
 * connection, fewer when the warm-up shows they would take more than `budget` seconds;
 * the figure is their median, or the warm-up run itself ("cold") when it alone took
 * longer than the budget. Every recorded find, aggregate and count is then explained
 * (queryPlanner): MongoDB's winning plan (COLLSCAN, IXSCAN with its index, a SORT in
 * memory), or what FerretDB answers: its SQLite plan and what it pushed down. "Now", for
 * `--since 1h`, is the newest event's time. The database is dropped at the end, on a
 * signal and when the watchdog fires.
 *
 * The default is 100,000 events, not the 1,000,000 of the README's figures: FerretDB 1.24
 * on SQLite pushes down only a filter that is exactly `{_id: <string>}`, never a sort (but
 * `$natural`), a limit only with neither filter nor sort, and even then SQLite does not use
 * the `_id` index (the pushed-down expression is not the index's); so every query reads
 * and decodes the whole collection it asks, at 0.1-0.5 ms a document on a 2-core machine,
 * and each takes minutes at 1,000,000 events (MongoDB answers them from its indexes).
 *
 * Env: BENCH_AQ_EVENTS, BENCH_AQ_BATCH, BENCH_AQ_RUNS, BENCH_AQ_BUDGET_S, BENCH_AQ_ONLY, MONGO_URL.
 */
import { loadavg } from 'node:os';
import type { CommandStartedEvent, Document } from 'mongodb';
import pino from 'pino';
import { MongoArchive } from '../src/archive/mongo-archive.js';
import { globToRegexSource } from '../src/archive/glob-regex.js';
import { parseTimeArg } from '../src/cli/time-arg.js';
import type { LocalService } from '../src/devstack/local-service.js';
import { startMongo } from '../src/devstack/mongo-server.js';
import { createLogger, type Logger } from '../src/logger.js';
import { intOption, subsetOption } from './lib/options.js';
import { onSignals, watchdog } from './lib/processes.js';
import { printJson, printTable, progress } from './lib/report.js';
import { runName } from './lib/stack.js';
import { fmtInt, median, round } from './lib/stats.js';
import { SyntheticArchive, type TraceSample } from './lib/synthetic-archive.js';

const NAME = 'archive-queries';
const DAYS = 30;
const SEED = 20_261_130;
/** Fewer events leave no trace of five to ask about. */
const MIN_EVENTS = 2000;
/** Commands whose plan is asked for; the rest (getMore, killCursors, ...) have none. */
const EXPLAINED = new Set(['find', 'aggregate', 'count']);
/** Fields of a recorded command that belong in its explain (not the session's, nor the driver's). */
const QUERY_FIELDS = ['find', 'aggregate', 'count', 'filter', 'sort', 'projection', 'hint', 'skip', 'limit', 'singleBatch', 'pipeline', 'cursor', 'query'];
/** MongoDB plan stages worth naming: how documents are found, and sorts done in memory. */
const ACCESS_STAGE = /SCAN$|^IDHACK$|^EXPRESS_|^EOF$|^RECORD_STORE_FAST_COUNT$|^SORT$/;

/** The queries, by the id `--only` takes. */
const QUERY_IDS = [
  'ls',
  'ls-key',
  'ls-key-rare',
  'ls-glob',
  'ls-glob-any',
  'ls-since',
  'ls-range',
  'ls-key-since',
  'ls-trace',
  'ls-ok',
  'ls-error',
  'ls-dead',
  'show',
  'results',
  'results-handler',
  'results-error',
  'results-dead',
  'results-since',
  'status',
] as const;
type QueryId = (typeof QUERY_IDS)[number];

interface Query {
  /** The command line, as an operator types it. */
  name: string;
  /** What it asks, in words. */
  asks: string;
  /** Run it; the rows it gives, in words. */
  run(archive: MongoArchive): Promise<string>;
}

interface Timing {
  name: string;
  asks: string;
  /** Timed runs after the warm-up; 0 when the warm-up run, over the budget, is the figure. */
  runs: number;
  medianMs: number;
  warmupMs: number;
  rows: string;
  plan: string;
  commands: { collection: string; command: string; plan: string }[];
}

/** The queries, with values picked from the archive (its busiest and rarest key, a trace of five). */
function queries(synth: SyntheticArchive, trace: TraceSample): Record<QueryId, Query> {
  const now = synth.end;
  const since = (text: string): Date => parseTimeArg(text, '--since', now);
  const top = synth.keys[0]!;
  const rare = synth.keys.at(-1)!;
  const handler = synth.handlerOf(top)!.id;
  const share = (glob: string): string => {
    const re = new RegExp(globToRegexSource(glob));
    const keys = synth.keys.filter((k) => re.test(k)).length;
    return `${keys} key${keys === 1 ? '' : 's'}, ${round(synth.keyShare(re) * 100, 2)}% of events`;
  };
  const n = (rows: readonly unknown[]): Promise<string> => Promise.resolve(String(rows.length));
  return {
    ls: { name: 'events ls', asks: 'newest 50 events', run: async (a) => n(await a.listEvents({})) },
    'ls-key': { name: `events ls --key ${top}`, asks: `exact key, the busiest (${share(top)})`, run: async (a) => n(await a.listEvents({ key: top })) },
    'ls-key-rare': { name: `events ls --key ${rare}`, asks: `exact key, the rarest (${share(rare)})`, run: async (a) => n(await a.listEvents({ key: rare })) },
    'ls-glob': {
      name: "events ls --key 'local:disk.*'",
      asks: `glob with a literal head (${share('local:disk.*')})`,
      run: async (a) => n(await a.listEvents({ key: 'local:disk.*' })),
    },
    'ls-glob-any': {
      name: "events ls --key '*:*.error'",
      asks: `glob with no literal head (${share('*:*.error')})`,
      run: async (a) => n(await a.listEvents({ key: '*:*.error' })),
    },
    'ls-since': { name: 'events ls --since 1h', asks: 'the last hour', run: async (a) => n(await a.listEvents({ since: since('1h') })) },
    'ls-range': {
      name: 'events ls --since 7d --until 6d',
      asks: 'one day, a week back',
      run: async (a) => n(await a.listEvents({ since: since('7d'), until: since('6d') })),
    },
    'ls-key-since': {
      name: `events ls --key ${top} --since 1d`,
      asks: 'busiest key, last day',
      run: async (a) => n(await a.listEvents({ key: top, since: since('1d') })),
    },
    'ls-trace': {
      name: 'events ls --trace ID',
      asks: `a trace of ${trace.ids.length} events`,
      run: async (a) => {
        const rows = await a.listEvents({ trace: trace.traceId });
        if (rows.length !== trace.ids.length) throw new Error(`events ls --trace: ${rows.length} events, expected ${trace.ids.length}`);
        return n(rows);
      },
    },
    'ls-ok': { name: 'events ls --status ok', asks: 'newest 50 whose handlers all ran ok', run: async (a) => n(await a.listEvents({ status: 'ok' })) },
    'ls-error': {
      name: 'events ls --status error',
      asks: 'newest 50 with a failed latest run',
      run: async (a) => n(await a.listEvents({ status: 'error' })),
    },
    'ls-dead': { name: 'events ls --status dead', asks: 'newest 50 dead-lettered', run: async (a) => n(await a.listEvents({ status: 'dead' })) },
    show: {
      name: 'events show ID',
      asks: 'an event, its runs, follow-ups, trace chain',
      run: async (a) => {
        const d = await a.eventDetail(trace.showId);
        if (!d || d.chain.length !== trace.chain || d.followUps.length !== trace.followUps)
          throw new Error(`events show: chain ${d?.chain.length} and ${d?.followUps.length} follow-ups, expected ${trace.chain} and ${trace.followUps}`);
        return `1 + ${d.runs.length} run(s), ${d.followUps.length} follow-up(s), chain of ${d.chain.length}`;
      },
    },
    results: { name: 'results ls', asks: 'newest 50 handler runs', run: async (a) => n(await a.listResults({})) },
    'results-handler': {
      name: 'results ls --handler ID',
      asks: `the busiest handler's runs (by id: ${handler})`,
      run: async (a) => n(await a.listResults({ handler })),
    },
    'results-error': { name: 'results ls --status error', asks: 'newest 50 failed runs', run: async (a) => n(await a.listResults({ status: 'error' })) },
    'results-dead': { name: 'results ls --status dead', asks: 'newest 50 dead letters', run: async (a) => n(await a.listResults({ status: 'dead' })) },
    'results-since': { name: 'results ls --since 1h', asks: 'runs of the last hour (50)', run: async (a) => n(await a.listResults({ since: since('1h') })) },
    status: {
      name: 'status',
      asks: 'archive counts: events, results by status, dead',
      run: async (a) => {
        const s = await a.stats();
        return `${fmtInt(s.events)} events, ${fmtInt(Object.values(s.results).reduce((x, y) => x + y, 0))} results, ${fmtInt(s.dead)} dead`;
      },
    },
  };
}

/** `url` with command monitoring turned on (a URI option, so MongoArchive.connect takes it as it is). */
function withMonitoring(url: string): string {
  if (url.includes('?')) return `${url}&monitorCommands=true`;
  // The driver wants a "/" between the hosts and the options.
  const hostsEnd = url.indexOf('/', url.indexOf('://') + 3);
  return `${url}${hostsEnd < 0 ? '/' : ''}?monitorCommands=true`;
}

/** The queries a monitored archive sends while `run` runs: collection, command name, and the command to explain. */
async function recordCommands<T>(
  archive: MongoArchive,
  database: string,
  run: () => Promise<T>,
): Promise<{ result: T; commands: { collection: string; command: string; explain: Document }[] }> {
  const commands: { collection: string; command: string; explain: Document }[] = [];
  const listener = (e: CommandStartedEvent): void => {
    if (e.databaseName !== database || !EXPLAINED.has(e.commandName)) return;
    const explain: Document = {};
    for (const f of QUERY_FIELDS) if (e.command[f] !== undefined) explain[f] = e.command[f];
    commands.push({ collection: String(e.command[e.commandName]), command: e.commandName, explain });
  };
  archive.db.client.on('commandStarted', listener);
  try {
    return { result: await run(), commands };
  } finally {
    archive.db.client.off('commandStarted', listener);
  }
}

/** The plan an explain reply describes, in a few words: MongoDB's stages, or FerretDB's SQLite plan and pushdowns. */
function describePlan(reply: Document): string {
  if ('filterPushdown' in reply) {
    const lines = (reply['queryPlanner']?.['Plan'] as unknown[] | undefined) ?? [];
    // FerretDB plans nothing for a collection that does not exist (no gap recorded yet).
    if (lines.length === 0) return 'no such collection';
    // "id=2 parent=0 notused=0 detail=SCAN events_12d8e384": the table name says nothing here.
    const sqlite = lines.map((l) => (/detail=(.*)$/.exec(String(l))?.[1] ?? String(l)).replace(/ \w+_[0-9a-f]{8}\b/g, '')).join(', ');
    const pushed = ['filter', 'sort', 'limit'].filter((p) => reply[`${p}Pushdown`] === true);
    return `${sqlite} (${pushed.length > 0 ? `${pushed.join('+')} pushed down` : 'nothing pushed down'})`;
  }
  const stages: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) for (const n of node) walk(n);
    else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (typeof o['stage'] === 'string' && ACCESS_STAGE.test(o['stage'])) {
        const s = `${o['stage']}${typeof o['indexName'] === 'string' ? ` ${o['indexName']}` : ''}`;
        if (!stages.includes(s)) stages.push(s);
      }
      for (const [k, v] of Object.entries(o)) if (k !== 'rejectedPlans' && k !== 'slotBasedPlan' && k !== 'command' && k !== 'serverInfo') walk(v);
    }
  };
  walk(reply);
  return stages.join('+') || '?';
}

async function explainAll(reader: MongoArchive, commands: { collection: string; command: string; explain: Document }[]): Promise<Timing['commands']> {
  const out: Timing['commands'] = [];
  for (const c of commands) {
    const reply = await reader.db.command({ explain: c.explain, verbosity: 'queryPlanner' });
    const plan = describePlan(reply);
    if (!out.some((o) => o.collection === c.collection && o.command === c.command && o.plan === plan))
      out.push({ collection: c.collection, command: c.command, plan });
  }
  return out;
}

async function timeQuery(q: Query, reader: MongoArchive, traced: MongoArchive, database: string, runs: number, budgetMs: number): Promise<Timing> {
  const t0 = performance.now();
  const { result: rows, commands } = await recordCommands(traced, database, () => q.run(traced));
  const warmupMs = performance.now() - t0;
  // A run longer than the budget is its own figure: there is no time for another.
  const n = Math.min(runs, Math.floor(budgetMs / warmupMs));
  const ms: number[] = n === 0 ? [warmupMs] : [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await q.run(reader);
    ms.push(performance.now() - t);
  }
  const plans = await explainAll(reader, commands);
  const plan = plans.map((p) => `${p.collection}.${p.command} ${p.plan}`).join('; ');
  return { name: q.name, asks: q.asks, runs: n, medianMs: median(ms), warmupMs, rows, plan, commands: plans };
}

interface Fill {
  events: number;
  results: number;
  seconds: number;
}

/** Fill the archive through `writer`, one batch stored while the next is made. */
async function fill(writer: MongoArchive, synth: SyntheticArchive, batch: number): Promise<Fill> {
  let events = 0;
  let results = 0;
  const t0 = performance.now();
  let reported = t0;
  const store = async (b: ReturnType<SyntheticArchive['next']>): Promise<void> => {
    const r = await writer.insertEvents(b.events, b.extras);
    if (r.inserted !== b.events.length) throw new Error(`insertEvents stored ${r.inserted} of ${b.events.length} events: ${JSON.stringify(r)}`);
    await writer.insertResults(b.results);
    events += b.events.length;
    results += b.results.length;
  };
  let storing: Promise<void> | undefined;
  while (synth.made < synth.count) {
    const b = synth.next(batch);
    await storing;
    storing = store(b);
    const now = performance.now();
    if (now - reported > 30_000) {
      reported = now;
      const rate = events / ((now - t0) / 1000);
      progress(
        NAME,
        `  ${fmtInt(events)} / ${fmtInt(synth.count)} events, ${fmtInt(results)} results: ${fmtInt(rate)} events/s, ${Math.round((synth.count - events) / rate)} s to go`,
      );
    }
  }
  await storing;
  return { events, results, seconds: (performance.now() - t0) / 1000 };
}

/** Size of the database as the server reports it, in MB (undefined when it does not say). */
async function sizeMB(archive: MongoArchive): Promise<number | undefined> {
  const s = await archive.db.command({ dbStats: 1 }).catch(() => undefined);
  const bytes = Number(s?.['storageSize'] ?? s?.['dataSize']);
  return Number.isFinite(bytes) && bytes > 0 ? round(bytes / 1e6) : undefined;
}

/** Milliseconds with a decimal below 100 ms, whole above. */
function fmtMs(ms: number): string {
  return ms < 100 ? ms.toFixed(1) : fmtInt(ms);
}

function runsText(runs: number): string {
  return runs === 0 ? '1 (cold)' : String(runs);
}

async function startServer(log: Logger): Promise<{ url: string; service?: LocalService }> {
  const url = process.env['MONGO_URL'];
  if (url) return { url };
  const service = await startMongo({ log });
  return { url: service.url, service };
}

async function main(): Promise<void> {
  const events = intOption('events', 'BENCH_AQ_EVENTS', 100_000);
  const batch = intOption('batch', 'BENCH_AQ_BATCH', 10_000);
  const runs = intOption('runs', 'BENCH_AQ_RUNS', 5);
  const budgetS = intOption('budget', 'BENCH_AQ_BUDGET_S', 60);
  const only = subsetOption('only', 'BENCH_AQ_ONLY', QUERY_IDS);
  if (events < MIN_EVENTS) throw new RangeError(`--events / BENCH_AQ_EVENTS must be at least ${MIN_EVENTS}, got ${events}`);
  const log = createLogger({ level: 'warn', name: 'bench', destination: pino.destination({ dest: 2, sync: true }) });
  const database = runName('bench_aq');
  const archives: MongoArchive[] = [];
  let service: LocalService | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      await archives[0]?.db.dropDatabase().catch(() => undefined);
      await Promise.allSettled(archives.map((a) => a.close()));
      await service?.stop().catch(() => undefined);
    })());
  // On FerretDB each query reads whole collections (up to 0.8 ms an event here): 19 queries
  // at least once each, plus the fill.
  watchdog(NAME, 20 * 60_000 + events * 20, cleanup);
  onSignals(cleanup);
  try {
    progress(NAME, 'starting MongoDB (FerretDB unless mongod is on PATH) unless MONGO_URL is set');
    const server = await startServer(log);
    if (server.service) service = server.service;
    const writer = await MongoArchive.connect({ url: server.url, database, log });
    archives.push(writer);
    const info = await writer.db.admin().command({ buildInfo: 1 });
    const serverName = typeof info['ferretdbVersion'] === 'string' ? `FerretDB ${info['ferretdbVersion']}` : `MongoDB ${String(info['version'])}`;

    const synth = new SyntheticArchive({ count: events, days: DAYS, end: Date.now(), seed: SEED });
    progress(NAME, `${serverName}: filling ${database} with ${fmtInt(events)} events over ${DAYS} days and their results, ${fmtInt(batch)} per insert`);
    const filled = await fill(writer, synth, batch);
    const fillRate = filled.events / filled.seconds;
    const docRate = (filled.events + filled.results) / filled.seconds;
    const mb = await sizeMB(writer);
    progress(
      NAME,
      `filled in ${round(filled.seconds)} s: ${fmtInt(fillRate)} events/s, ${fmtInt(docRate)} documents/s (${fmtInt(filled.results)} results)${mb ? `, ${fmtInt(mb)} MB` : ''}`,
    );
    const trace = synth.latestTrace;
    if (!trace) throw new Error('the archive has no trace of five events to ask about: fill more events');

    // Opened as the CLI opens the archive: no index changes.
    const reader = await MongoArchive.connect({ url: server.url, database, log, ensureIndexes: false });
    archives.push(reader);
    const traced = await MongoArchive.connect({ url: withMonitoring(server.url), database, log, ensureIndexes: false });
    archives.push(traced);
    const loadBefore = loadavg()[0]!;
    const timings: Timing[] = [];
    const all = queries(synth, trace);
    for (const id of only) {
      const q = all[id];
      progress(NAME, `${id}: ${q.name}`);
      const t = await timeQuery(q, reader, traced, database, runs, budgetS * 1000);
      progress(NAME, `  ${fmtMs(t.medianMs)} ms (${t.runs === 0 ? 'one cold run' : `median of ${t.runs}`}), rows: ${t.rows}; ${t.plan}`);
      timings.push(t);
    }
    const loadAfter = loadavg()[0]!;

    printTable(
      `${fmtInt(events)} events, ${fmtInt(filled.results)} results on ${serverName} (median of up to ${runs} runs after a warm-up; load ${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)})`,
      ['query', 'what it asks', 'runs', 'median ms', 'rows', 'plan'],
      timings.map((t) => [t.name, t.asks, runsText(t.runs), fmtMs(t.medianMs), t.rows, t.plan]),
      ['l', 'l', 'r', 'r', 'l', 'l'],
    );
    process.stdout.write(
      `fill: ${fmtInt(filled.events)} events and ${fmtInt(filled.results)} results in ${round(filled.seconds)} s: ${fmtInt(fillRate)} events/s, ${fmtInt(docRate)} documents/s${mb ? `; ${fmtInt(mb)} MB` : ''}\n`,
    );
    printJson({
      bench: NAME,
      server: serverName,
      events: filled.events,
      results: filled.results,
      fill_s: round(filled.seconds, 1),
      fill_events_per_s: round(fillRate),
      fill_docs_per_s: round(docRate),
      size_mb: mb ?? null,
      load: [round(loadBefore, 1), round(loadAfter, 1)],
      queries: timings.map((t) => ({
        query: t.name,
        runs: t.runs,
        median_ms: round(t.medianMs, 1),
        warmup_ms: round(t.warmupMs, 1),
        rows: t.rows,
        plans: t.commands,
      })),
    });
  } finally {
    await cleanup();
  }
}

await main();
