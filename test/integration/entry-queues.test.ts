import { test, after, afterEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import { Queue } from 'bullmq';
import type { Registry } from 'prom-client';
import { buildHandlers, loadHandlersFile } from '../../src/config/handlers-file.js';
import { MongoArchive } from '../../src/archive/mongo-archive.js';
import { ResultWriter } from '../../src/archive/result-writer.js';
import { ShellDriver } from '../../src/handlers/shell-driver.js';
import { TsfuncDriver } from '../../src/handlers/tsfunc-driver.js';
import { PyfuncDriver } from '../../src/handlers/pyfunc-driver.js';
import { WebhookDriver } from '../../src/handlers/webhook-driver.js';
import { AmqpDriver } from '../../src/handlers/amqp-driver.js';
import { HandlerEnvironment, baseEnvironment } from '../../src/handlers/handler-env.js';
import type { FollowUpEvent } from '../../src/handlers/driver.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { HandlerWorker } from '../../src/queue/handler-worker.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { jobIdFor } from '../../src/queue/job.js';
import { entryQueueName } from '../../src/queue/queue-for.js';
import { queueConnection } from '../../src/queue/connection.js';
import type { BullConnection } from '../../src/redis/redis-client.js';
import { readQueueCounts } from '../../src/queue/queue-counts.js';
import type { ReactorEvent } from '../../src/event/event.js';
import { silentLogger } from '../../src/logger.js';
import { createRegistry, metricValue } from '../../src/metrics.js';
import type { RuleTable } from '../../src/rules/rule-table.js';
import { uniqueName, useServices } from '../helpers/services.js';
import { sampleEvent } from '../helpers/events.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  for (const w of workers.splice(0)) await w.close();
  await queue?.close();
  await archive?.close();
  await mongo?.close();
  await link?.close();
});
const services = useServices();
let cfg: TestConfig;
let queue: JobQueue;
let archive: MongoArchive;
let mongo: MongoClient;
let db: Db;
let rules: RuleTable;
/** For the tests' own look at the queues. */
let link: BullConnection;
const workers: HandlerWorker[] = [];

// Waits payload.ms, then fails when payload.fail is set (or on the first attempt with payload.fail_first).
const PROBE = `export async function run(event: { payload: { ms?: number; fail?: boolean; fail_first?: boolean } }, ctx: { attempt: number }): Promise<number> {
  await new Promise((r) => setTimeout(r, event.payload.ms ?? 10));
  if (event.payload.fail || (event.payload.fail_first && ctx.attempt === 1)) throw new Error('probe failed as asked');
  return ctx.attempt;
}
export const other = run;
`;
// Hangs until its timeout: a module of its own, since a timeout ends the module's thread.
const STUCK = `export async function run(): Promise<null> {
  await new Promise((r) => setTimeout(r, 600_000));
  return null;
}
`;

const probe = { driver: 'tsfunc', handler: 'probe.run', retries: 0 };

before(async () => {
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:q.stuck': [{ driver: 'tsfunc', handler: 'stuck.run', retries: 0, timeout: 60 }],
      'local:q.quick': [probe],
      'local:q.excl': [
        { ...probe, exclusive: true },
        { ...probe, handler: 'probe.other', exclusive: true },
      ],
      'local:q.two': [{ ...probe, concurrency: 2 }],
      'local:q.rate': [{ ...probe, rate: { max: 2, per: 1 } }],
      'local:q.order': [{ ...probe, order_by: 'payload.group', concurrency: 3, retries: 1, backoff: 0.3 }],
      'local:q.breaker': [{ ...probe, breaker: { failures: 3, within: 60, open_for: 3 } }],
    },
    files: { 'probe.ts': PROBE, 'stuck.ts': STUCK },
    extra: { worker: { concurrency: 4, timeout: 20, shutdown_grace: 1, retries: 0, backoff: 0.1 } },
  });
  rules = loadHandlersFile(cfg.settings.handlersFile).rules;
  link = queueConnection(cfg.settings.redisUrl);
  queue = new JobQueue({ redisUrl: cfg.settings.redisUrl, queue: cfg.settings.queue, log: silentLogger(), defaults: { retries: 0, backoffMs: 100 } });
  await queue.start();
  archive = await MongoArchive.connect({ url: cfg.settings.mongo.url, database: cfg.settings.mongo.database, log: silentLogger() });
  mongo = new MongoClient(cfg.settings.mongo.url);
  db = mongo.db(cfg.database);
});

/** A worker as the daemon builds it; `ran` records the events whose results it stored, `fired` what it fired. */
function startWorker(
  o: { ran?: Set<string>; fired?: FollowUpEvent[]; registry?: Registry; table?: () => RuleTable; settings?: TestConfig['settings']['worker'] } = {},
): HandlerWorker {
  const opts = { handlersDir: cfg.handlersDir, outputLimitBytes: 65_536 };
  const results = new ResultWriter({
    archive: {
      insertResults: async (rs) => {
        for (const r of rs) o.ran?.add(r.event_id);
        await archive.insertResults(rs);
      },
      findOkResult: (ids) => archive.findOkResult(ids),
    },
    log: silentLogger(),
    maxDelayMs: 2,
  });
  const worker = new HandlerWorker({
    redisUrl: cfg.settings.redisUrl,
    queue: cfg.settings.queue,
    settings: o.settings ?? cfg.settings.worker,
    drivers: {
      shell: new ShellDriver(opts),
      tsfunc: new TsfuncDriver(opts),
      pyfunc: new PyfuncDriver({ ...opts, env: {}, python: cfg.settings.worker.python }),
      webhook: new WebhookDriver({ outputLimitBytes: 65_536, userAgent: 'test' }),
      amqp: new AmqpDriver(),
    },
    environment: new HandlerEnvironment(baseEnvironment(process.env), cfg.dir),
    results,
    fire: async (e) => {
      o.fired?.push(e);
      return sampleEvent({ namespace: e.namespace ?? 'reactor', event_type: e.event_type, payload: e.payload });
    },
    rules: o.table ?? ((): RuleTable => rules),
    log: silentLogger(),
    registry: o.registry ?? createRegistry('worker'),
  });
  worker.start();
  workers.push(worker);
  return worker;
}

// Each test starts its own workers; a failed one must not leave them to the next.
afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
});

function entry(key: string, handler = 'probe.run'): HandlerSpec {
  const e = rules.entries.find((x) => x.spec.key === key && x.spec.command === handler);
  if (!e) throw new Error(`no entry ${handler} under ${key}`);
  return e.spec;
}

/** Enqueue one event per payload for `spec`, in order, as the subscriber would; returns the event ids. */
async function enqueue(spec: HandlerSpec, payloads: Record<string, unknown>[]): Promise<string[]> {
  const [namespace, eventType] = spec.key.split(':') as [string, string];
  const events: ReactorEvent[] = payloads.map((payload) => {
    const id = uniqueName('ev');
    return sampleEvent({ id, trace_id: id, namespace, event_type: eventType, payload });
  });
  await queue.addBulk(events.map((event) => ({ event, handler: spec })));
  return events.map((e) => e.id);
}

interface Run {
  event_id: string;
  status: string;
  attempt: number;
  start: Date;
  end: Date;
}

async function runsOf(eventIds: readonly string[]): Promise<Run[]> {
  return (await db
    .collection('results')
    .find({ event_id: { $in: [...eventIds] } })
    .toArray()) as unknown as Run[];
}

async function okRuns(eventIds: readonly string[], what: string, timeoutMs = 30_000): Promise<Map<string, Run>> {
  return eventually(
    async () => {
      const ok = (await runsOf(eventIds)).filter((r) => r.status === 'ok');
      return ok.length === eventIds.length ? new Map(ok.map((r) => [r.event_id, r])) : undefined;
    },
    what,
    timeoutMs,
  );
}

/** The most runs under way at once. */
function mostAtOnce(runs: readonly Run[]): number {
  return Math.max(0, ...runs.map((a) => runs.filter((b) => b.start <= a.start && b.end > a.start).length));
}

test('entry queues - each entry has its own queue: a stuck handler does not delay another entry', async () => {
  const stuck = await enqueue(entry('local:q.stuck', 'stuck.run'), [{}, {}, {}, {}, {}]);
  startWorker();
  // The stuck entry takes what it may of this worker's 4 slots (3: one is left to the others).
  await eventually(async () => {
    const counts = await readQueueCounts(cfg.settings.redisUrl, cfg.settings.queue);
    return counts.counts[entryQueueName(cfg.queue, 'local:q.stuck', entry('local:q.stuck', 'stuck.run').id)]?.active === 3;
  }, 'three stuck handlers running');
  try {
    const quick = await enqueue(entry('local:q.quick'), [{ ms: 10 }, { ms: 10 }]);
    await okRuns(quick, 'the other entry ran', 20_000);
    assert.equal((await runsOf(stuck)).length, 0, 'the other entry ran while the stuck handlers hung (their timeout is 60 s)');
  } finally {
    // The stuck jobs must not hang the next tests' workers: stop this one, drop them.
    for (const w of workers.splice(0)) await w.close();
    const stuckQueue = new Queue(entryQueueName(cfg.queue, 'local:q.stuck', entry('local:q.stuck', 'stuck.run').id), {
      connection: link.connection,
      prefix: cfg.settings.queue.prefix,
    });
    await stuckQueue.obliterate({ force: true });
    await stuckQueue.close();
  }
});

test('entry queues - two exclusive entries run in parallel, each one at a time', async () => {
  startWorker();
  const a = await enqueue(entry('local:q.excl'), [{ ms: 400 }, { ms: 400 }, { ms: 400 }]);
  const b = await enqueue(entry('local:q.excl', 'probe.other'), [{ ms: 400 }, { ms: 400 }, { ms: 400 }]);
  const ra = [...(await okRuns(a, 'first exclusive entry ran')).values()];
  const rb = [...(await okRuns(b, 'second exclusive entry ran')).values()];
  assert.equal(mostAtOnce(ra), 1, 'the first entry ran one at a time');
  assert.equal(mostAtOnce(rb), 1, 'the second entry ran one at a time');
  assert.equal(mostAtOnce([...ra, ...rb]), 2, 'the two entries ran at the same time');
});

test('entry queues - concurrency 2 holds across three worker instances', async () => {
  // Workers of 2 slots: with several entries each entry may take 1 of them, so reaching 2
  // at once takes two workers, and 3 would be possible without the global limit.
  const ran = [new Set<string>(), new Set<string>(), new Set<string>()];
  for (const r of ran) startWorker({ ran: r, settings: { ...cfg.settings.worker, concurrency: 2 } });
  const ids = await enqueue(
    entry('local:q.two'),
    Array.from({ length: 10 }, () => ({ ms: 300 })),
  );
  const runs = [...(await okRuns(ids, 'every job of the concurrency-2 entry ran')).values()];
  assert.equal(mostAtOnce(runs), 2, 'two at a time across the workers, never more');
  assert.ok(ran.filter((r) => r.size > 0).length >= 2, `several workers took jobs (${ran.map((r) => r.size).join(', ')})`);
});

test('entry queues - rate delays the excess and loses nothing', async () => {
  startWorker();
  startWorker();
  const ids = await enqueue(
    entry('local:q.rate'),
    Array.from({ length: 6 }, () => ({ ms: 5 })),
  );
  const runs = [...(await okRuns(ids, 'every rate-limited job ran')).values()];
  assert.equal(runs.length, 6, 'nothing dropped');
  const starts = runs.map((r) => r.start.getTime()).sort((x, y) => x - y);
  // 2 per second: the 5th and 6th cannot start before the third second's window.
  assert.ok(starts[5]! - starts[0]! >= 1500, `6 runs at 2 per second took ${starts[5]! - starts[0]!} ms from first to last start`);
});

test('entry queues - order_by runs the events of one value one after another, in order, through a retry, with other values in parallel', async () => {
  startWorker();
  startWorker();
  const spec = entry('local:q.order');
  // A1 fails its first attempt: A2 and A3 wait for its retry.
  const payloads = [
    { group: 'A', ms: 200, fail_first: true },
    { group: 'B', ms: 300 },
    { group: 'A', ms: 50 },
    { group: 'C', ms: 100 },
    { group: 'B', ms: 50 },
    { group: 'A', ms: 100 },
    { group: 'C', ms: 10 },
    { group: 'B', ms: 100 },
    { group: 'A', ms: 10 },
  ];
  const ids = await enqueue(spec, payloads);
  const ok = await okRuns(ids, 'every ordered job ran');
  for (const group of ['A', 'B', 'C']) {
    const mine = ids.filter((_, i) => payloads[i]!.group === group).map((id) => ok.get(id)!);
    for (let i = 1; i < mine.length; i++)
      assert.ok(
        mine[i]!.start >= mine[i - 1]!.end,
        `${group}: event ${i + 1} started after event ${i} ended (${mine[i]!.start.toISOString()} >= ${mine[i - 1]!.end.toISOString()})`,
      );
  }
  assert.equal(ok.get(ids[0]!)!.attempt, 2, 'A1 ran again after its failed attempt');
  assert.ok(mostAtOnce([...ok.values()]) >= 2, 'values ran in parallel');
  assert.ok(mostAtOnce([...ok.values()]) <= 3, 'within the entry concurrency');
});

test('entry queues - the breaker opens after 3 failures, jobs wait instead of failing, it closes and they run; open and closed are fired', async () => {
  const fired: FollowUpEvent[] = [];
  const registry = createRegistry('worker');
  startWorker({ fired, registry });
  const spec = entry('local:q.breaker');
  const name = entryQueueName(cfg.queue, spec.key, spec.id);
  const failing = await enqueue(spec, [{ fail: true }, { fail: true }, { fail: true }]);
  await eventually(async () => fired.find((e) => e.event_type === 'breaker.open'), 'reactor:breaker.open fired');
  const inspect = new Queue(name, { connection: link.connection, prefix: cfg.settings.queue.prefix });
  try {
    assert.equal(await inspect.isPaused(), true, 'the queue is paused while the breaker is open');
    const open = fired.find((e) => e.event_type === 'breaker.open')!;
    assert.equal(open.namespace, 'reactor');
    const p = open.payload as Record<string, unknown>;
    assert.equal(p['key'], 'local:q.breaker');
    assert.equal(p['handler'], 'probe.run');
    assert.equal(p['failures'], 3);
    assert.equal(p['open_for'], 3);
    assert.equal(typeof p['opened_at'], 'string');
    assert.equal(typeof p['until'], 'string');
    assert.equal((await runsOf(failing)).length, 3);

    const waiting = await enqueue(spec, [{}, {}, {}]);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await runsOf(waiting)).length, 0, 'no job runs, or fails, while the breaker is open');
    const counts = await inspect.getJobCounts('wait', 'failed');
    assert.equal(counts['wait'], 3, 'the jobs wait');
    assert.equal(counts['failed'], 3, 'only the three that opened it failed');
    const status = await readQueueCounts(cfg.settings.redisUrl, cfg.settings.queue);
    assert.equal(status.entries.find((e) => e.queue === name)?.breaker?.state, 'open', 'status shows it open');

    await okRuns(waiting, 'the waiting jobs ran once the breaker closed', 15_000);
    const closed = await eventually(async () => fired.find((e) => e.event_type === 'breaker.closed'), 'reactor:breaker.closed fired');
    assert.equal((closed.payload as Record<string, unknown>)['failures'], 3);
    assert.equal(await inspect.isPaused(), false);
    assert.equal(await metricValue(registry, 'worker_breaker_transitions_total', { state: 'open' }), 1);
    assert.equal(await metricValue(registry, 'worker_breaker_transitions_total', { state: 'closed' }), 1);
  } finally {
    await inspect.close();
  }
});

test('entry queues - a worker drains the queue of an entry its table no longer has: the job is refused as unknown, not left behind', async () => {
  const gone = { ...entry('local:q.quick'), id: 'f00dfeedf00dfeed', command: 'removed.run' } satisfies HandlerSpec;
  const [id] = await enqueue(gone, [{}]);
  startWorker();
  const dead = await eventually(
    async () => (await runsOf([id!])).find((r) => (r as unknown as { error_code?: string }).error_code === 'ERR_UNKNOWN_HANDLER'),
    'refused as unknown',
  );
  assert.equal((dead as unknown as { job_id: string }).job_id, jobIdFor(id!, gone.id));
});

test('entry queues - a job decided with a table this worker has not loaded yet waits for its reload instead of being refused, then runs', async () => {
  const newer = buildHandlers(cfg.settings.handlersFile, { 'local:q.late': [probe] }).rules;
  const spec = newer.entries[0]!.spec;
  const event = sampleEvent({ id: uniqueName('ev'), namespace: 'local', event_type: 'q.late', payload: {} });
  // Queued (and registered) first: the worker finds the queue at its first look, before its reload.
  await queue.addBulk([{ event, handler: spec, table: newer.hash }]);
  let current = rules;
  const registry = createRegistry('worker');
  startWorker({ table: () => current, registry });
  await eventually(async () => (await metricValue(registry, 'worker_jobs_deferred_total', { reason: 'reload' })) > 0, 'the job put back, waiting for a reload');
  assert.deepEqual(await runsOf([event.id]), [], 'not refused while the worker has the older table');
  current = newer;
  const ran = await okRuns([event.id], 'ran once the worker reloaded', 20_000);
  assert.equal(ran.size, 1);
});

test('entry queues - a reloaded table takes effect within seconds: a new entry gets its queue, a changed policy is applied to the queue in Redis', async () => {
  const file = (policy: Record<string, unknown>): RuleTable =>
    buildHandlers(cfg.settings.handlersFile, { 'local:q.reload': [{ ...probe, ...policy }], 'local:q.added': [probe] }).rules;
  let current = rules;
  startWorker({ table: () => current });
  current = file({ rate: { max: 5, per: 2 } });
  const spec = current.entries.find((e) => e.spec.key === 'local:q.reload')!.spec;
  const added = current.entries.find((e) => e.spec.key === 'local:q.added')!.spec;
  const inspect = new Queue(entryQueueName(cfg.queue, spec.key, spec.id), {
    connection: link.connection,
    prefix: cfg.settings.queue.prefix,
  });
  try {
    await okRuns(await enqueue(added, [{}]), 'a job of the added entry ran', 10_000);
    await eventually(async () => (await inspect.getGlobalRateLimit())?.max === 5, 'the rate applied');
    assert.equal(await inspect.getGlobalConcurrency(), null);
    current = file({ exclusive: true });
    await eventually(async () => (await inspect.getGlobalConcurrency()) === 1, 'exclusive applied as global concurrency 1');
    await eventually(async () => (await inspect.getGlobalRateLimit()) === null, 'the rate removed');
  } finally {
    await inspect.close();
  }
});
