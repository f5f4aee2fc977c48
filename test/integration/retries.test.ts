import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { MongoClient, type Db } from 'mongodb';
import { queueConnection } from '../../src/queue/connection.js';
import { entryQueueName } from '../../src/queue/queue-for.js';
import { startWorkerDaemon, type WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { loadHandlersFile } from '../../src/config/handlers-file.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { DeadLetters } from '../../src/queue/dead-letters.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { silentLogger } from '../../src/logger.js';
import { dropDatabase, useServices } from '../helpers/services.js';
import { enqueueFirstHandler } from '../helpers/jobs.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  await queue?.close();
  await dead?.close();
  await worker?.close();
  await mongo?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();
let cfg: TestConfig;
let table: Map<string, HandlerSpec[]>;
let worker: WorkerDaemon;
let queue: JobQueue;
let dead: DeadLetters;
let mongo: MongoClient;
let db: Db;

// Fails until it has run `$FAIL_TIMES` times for this event, counting runs in a file.
const FLAKY = `#!/bin/sh
f="$(dirname "$0")/count-$EVENT_ID"
n=$(( $(cat "$f" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$f"
if [ "$n" -le 2 ]; then echo "failing on try $n" >&2; exit 3; fi
echo "ok on try $n"
`;
// Fails until the file "fixed" exists in the handler directory.
const BROKEN = `#!/bin/sh
if [ -e "$(dirname "$0")/fixed" ]; then echo fixed; exit 0; fi
echo "still broken" >&2
exit 1
`;

before(async () => {
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:retry.flaky': [{ driver: 'shell', handler: 'flaky.sh', retries: 2, backoff: 0.05 }],
      'local:retry.slow': [{ driver: 'shell', handler: 'flaky.sh', retries: 2, backoff: 0.2 }],
      'local:retry.broken': [{ driver: 'shell', handler: 'broken.sh', retries: 1, backoff: 0.05 }],
      'local:retry.broken-excl': [{ driver: 'shell', handler: 'broken.sh', retries: 1, backoff: 0.05, exclusive: true }],
      'local:retry.refused': [{ driver: 'tsfunc', handler: 'no-such-module.run', retries: 5 }],
      'local:retry.default': [{ driver: 'shell', handler: 'broken.sh' }],
    },
    files: { 'flaky.sh': FLAKY, 'broken.sh': BROKEN },
    extra: { worker: { concurrency: 8, timeout: 20, retries: 0, backoff: 0.05 } },
  });
  table = loadHandlersFile(cfg.settings.handlersFile).table;
  const log = silentLogger();
  worker = await startWorkerDaemon(cfg.settings, log);
  const w = cfg.settings.worker;
  queue = new JobQueue({ redisUrl: cfg.settings.redisUrl, queue: cfg.settings.queue, log, defaults: { retries: w.retries, backoffMs: w.backoffMs } });
  await queue.start();
  dead = new DeadLetters({ redisUrl: cfg.settings.redisUrl, queue: cfg.settings.queue, log });
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(cfg.database);
});

const enqueue = (key: string): Promise<{ eventId: string; jobId: string }> => enqueueFirstHandler(queue, table, key);

const results = (jobId: string): Promise<Record<string, unknown>[]> => db.collection('results').find({ job_id: jobId }).sort({ run: 1 }).toArray();
const resultsN = (jobId: string, n: number) =>
  eventually(async () => {
    const rs = await results(jobId);
    return rs.length >= n ? rs : undefined;
  }, `${n} results for ${jobId}`);

test('retries - a handler failing twice then succeeding leaves three results, attempts 1..3, the last ok, none dead', async () => {
  const { jobId } = await enqueue('local:retry.flaky');
  const rs = await resultsN(jobId, 3);
  assert.deepEqual(
    rs.map((r) => r['_id']),
    [`${jobId}#1`, `${jobId}#2`, `${jobId}#3`],
  );
  assert.deepEqual(
    rs.map((r) => r['attempt']),
    [1, 2, 3],
  );
  assert.deepEqual(
    rs.map((r) => r['status']),
    ['error', 'error', 'ok'],
  );
  assert.deepEqual(
    rs.map((r) => r['code']),
    [3, 3, 0],
  );
  assert.equal(rs[2]!['data'], 'ok on try 3\n');
  assert.ok(rs.every((r) => r['dead'] === false));
  assert.equal(await dead.get(jobId), undefined);
});

test('retries - the wait between attempts grows exponentially (base × 2^(n-1) × [0.5, 1.5))', async () => {
  const { jobId } = await enqueue('local:retry.slow');
  const rs = await resultsN(jobId, 3);
  const gap = (a: number, b: number): number => (rs[b]!['start'] as Date).getTime() - (rs[a]!['end'] as Date).getTime();
  const base = 200;
  assert.ok(gap(0, 1) >= base * 0.5, `attempt 2 started ${gap(0, 1)} ms after attempt 1 ended`);
  assert.ok(gap(1, 2) >= base * 2 * 0.5, `attempt 3 started ${gap(1, 2)} ms after attempt 2 ended`);
  assert.equal(rs[2]!['status'], 'ok');
});

test('retries - a handler that always fails is dead after 1 + retries attempts; only the last result says so', async () => {
  const { jobId, eventId } = await enqueue('local:retry.broken');
  const job = await eventually(() => dead.get(jobId), 'job in the dead-letter queue');
  const rs = await results(jobId);
  assert.equal(rs.length, 2);
  assert.deepEqual(
    rs.map((r) => r['attempt']),
    [1, 2],
  );
  assert.deepEqual(
    rs.map((r) => r['status']),
    ['error', 'error'],
  );
  assert.equal(rs[0]!['dead'], false);
  assert.equal(rs[1]!['dead'], true);
  assert.equal(job.attempts, 2);
  assert.equal(job.key, 'local:retry.broken');
  assert.equal(job.handler, 'broken.sh');
  assert.equal(job.eventId, eventId);
  assert.match(job.failedReason, /exited with code 1/);
  assert.ok(job.finishedOn instanceof Date);
});

test('retries - worker.retries is the default for handlers without their own', async () => {
  const { jobId } = await enqueue('local:retry.default');
  await eventually(() => dead.get(jobId), 'job in the dead-letter queue');
  const rs = await results(jobId);
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!['dead'], true);
});

test('retries - a refused handler is dead at once, whatever its retries', async () => {
  const { jobId } = await enqueue('local:retry.refused');
  const job = await eventually(() => dead.get(jobId), 'job in the dead-letter queue');
  const rs = await results(jobId);
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!['error_code'], 'ERR_HANDLER_REFUSED');
  assert.equal(rs[0]!['dead'], true);
  assert.match(job.failedReason, /not found/);
});

test('dead letters - list covers the queue of every entry, exclusive or not', async () => {
  const a = await enqueue('local:retry.broken');
  const b = await enqueue('local:retry.broken-excl');
  await eventually(async () => (await dead.get(a.jobId)) && (await dead.get(b.jobId)), 'both dead');
  const listed = await dead.list();
  const ids = listed.map((j) => j.id);
  assert.ok(ids.includes(a.jobId) && ids.includes(b.jobId));
  const queueOf = (key: string): string => entryQueueName(cfg.queue, key, table.get(key)![0]!.id);
  assert.deepEqual(
    new Set(listed.filter((j) => [a.jobId, b.jobId].includes(j.id)).map((j) => j.queue)),
    new Set([queueOf('local:retry.broken'), queueOf('local:retry.broken-excl')]),
  );
});

test('dead letters - retry re-runs a dead job with fresh attempts once its handler is fixed; the job leaves the list', async () => {
  const { jobId } = await enqueue('local:retry.broken');
  await eventually(() => dead.get(jobId), 'job in the dead-letter queue');
  writeFileSync(join(cfg.handlersDir, 'fixed'), '');
  try {
    assert.equal(await dead.retry(jobId), true);
    const rs = await resultsN(jobId, 3);
    assert.deepEqual(
      rs.map((r) => r['_id']),
      [`${jobId}#1`, `${jobId}#2`, `${jobId}#3`],
    );
    assert.equal(rs[2]!['status'], 'ok');
    assert.equal(rs[2]!['attempt'], 1);
    assert.equal(rs[2]!['run'], 3);
    assert.equal(await dead.get(jobId), undefined);
    assert.equal(await dead.retry(jobId), false);
  } finally {
    rmSync(join(cfg.handlersDir, 'fixed'), { force: true });
  }
});

test('dead letters - purge removes a dead job from Redis and keeps its results', async () => {
  const { jobId } = await enqueue('local:retry.broken');
  await eventually(() => dead.get(jobId), 'job in the dead-letter queue');
  assert.equal(await dead.purge(jobId), true);
  assert.equal(await dead.get(jobId), undefined);
  assert.ok(!(await dead.list()).some((j) => j.id === jobId));
  assert.equal(await dead.purge(jobId), false);
  assert.equal((await results(jobId)).length, 2);
});

test('dead letters - retry resets the stall count too, so a job dead as stalled gets its full allowance again', async () => {
  const { jobId } = await enqueue('local:retry.broken');
  await eventually(() => dead.get(jobId), 'job in the dead-letter queue');
  const broken = table.get('local:retry.broken')![0]!;
  const link = queueConnection(cfg.settings.redisUrl);
  const inspect = new Queue(entryQueueName(cfg.settings.queue.name, broken.key, broken.id), {
    connection: link.connection,
    prefix: cfg.settings.queue.prefix,
  });
  try {
    const client = await inspect.getBackend().client;
    await client.hset(inspect.toKey(jobId), { stc: 1 });
    assert.equal((await inspect.getJob(jobId))!.stalledCounter, 1);
    assert.equal(await dead.retry(jobId), true);
    assert.equal((await inspect.getJob(jobId))!.stalledCounter, 0);
  } finally {
    await inspect.close();
    await link.close();
  }
});
