import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { MongoClient, type Db } from 'mongodb';
import { startWorkerDaemon, type WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { loadHandlersFile } from '../../src/config/handlers-file.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { queueConnection } from '../../src/queue/connection.js';
import { entryQueueName } from '../../src/queue/queue-for.js';
import type { BullConnection } from '../../src/redis/redis-client.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { silentLogger } from '../../src/logger.js';
import { dropDatabase, useServices } from '../helpers/services.js';
import { enqueueFirstHandler } from '../helpers/jobs.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  await queue?.close();
  await inspect?.close();
  await inspectShort?.close();
  await link?.close();
  for (const w of workers) await w.close();
  await mongo?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();
let cfg: TestConfig;
let table: Map<string, HandlerSpec[]>;
let queue: JobQueue;
let inspect: Queue;
let inspectShort: Queue;
let link: BullConnection | undefined;
let mongo: MongoClient;
let db: Db;
const workers: WorkerDaemon[] = [];

// Marks that it started, then takes 30 s unless the file "quick" exists.
const SLOW = `#!/bin/sh
touch "$(dirname "$0")/started-$EVENT_ID"
if [ -e "$(dirname "$0")/quick" ]; then echo quick; exit 0; fi
sleep 30
`;
// Marks that it started, takes 0.3 s, then marks that it finished.
const SHORT = `#!/bin/sh
touch "$(dirname "$0")/started-$EVENT_ID"
sleep 0.3
touch "$(dirname "$0")/finished-$EVENT_ID"
`;

before(async () => {
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:shut.slow': [{ driver: 'shell', handler: 'slow.sh', retries: 0 }],
      'local:shut.short': [{ driver: 'shell', handler: 'short.sh', retries: 0 }],
    },
    files: { 'slow.sh': SLOW, 'short.sh': SHORT },
    extra: { worker: { concurrency: 2, timeout: 60, shutdown_grace: 1.5 } },
  });
  table = loadHandlersFile(cfg.settings.handlersFile).table;
  const log = silentLogger();
  queue = new JobQueue({ redisUrl: cfg.settings.redisUrl, queue: cfg.settings.queue, log, defaults: { retries: 0, backoffMs: 0 } });
  await queue.start();
  link = queueConnection(cfg.settings.redisUrl);
  // Each entry's jobs are in its own queue.
  const short = table.get('local:shut.short')![0]!;
  inspectShort = new Queue(entryQueueName(cfg.settings.queue.name, short.key, short.id), { connection: link.connection, prefix: cfg.settings.queue.prefix });
  const slow = table.get('local:shut.slow')![0]!;
  inspect = new Queue(entryQueueName(cfg.settings.queue.name, slow.key, slow.id), { connection: link.connection, prefix: cfg.settings.queue.prefix });
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(cfg.database);
});

async function startWorker(): Promise<WorkerDaemon> {
  const w = await startWorkerDaemon(cfg.settings, silentLogger());
  workers.push(w);
  return w;
}

const enqueue = (key: string): Promise<{ eventId: string; jobId: string }> => enqueueFirstHandler(queue, table, key);

const marker = (name: string, eventId: string): string => join(cfg.handlersDir, `${name}-${eventId}`);

test('worker shutdown - a handler still running when the grace is over is aborted, archived as ERR_SHUTDOWN and requeued without using an attempt; another worker runs it', async () => {
  const first = await startWorker();
  const { eventId, jobId } = await enqueue('local:shut.slow');
  await eventually(async () => existsSync(marker('started', eventId)), 'slow handler started');

  const t0 = performance.now();
  await first.close();
  const closeMs = performance.now() - t0;
  // Grace 1.5 s, then the process group is killed: well under the handler's 30 s.
  assert.ok(closeMs >= 1000 && closeMs < 10_000, `close took ${Math.round(closeMs)} ms`);

  const aborted = await db.collection('results').findOne({ _id: `${jobId}#1` as never });
  assert.ok(aborted, 'the aborted run is archived');
  assert.equal(aborted['status'], 'error');
  assert.equal(aborted['error_code'], 'ERR_SHUTDOWN');
  assert.equal(aborted['attempt'], 1);
  assert.equal(aborted['run'], 1);
  assert.equal(aborted['dead'], false, 'a shutdown is not a failed attempt');

  const job = await inspect.getJob(jobId);
  assert.ok(job, 'the job is kept');
  assert.equal(await job.getState(), 'waiting');
  assert.equal(job.attemptsMade, 0, 'no attempt used up');

  writeFileSync(join(cfg.handlersDir, 'quick'), '');
  try {
    await startWorker();
    const done = await eventually(() => db.collection('results').findOne({ _id: `${jobId}#2` as never }), 'second run archived');
    assert.equal(done['status'], 'ok');
    assert.equal(done['attempt'], 1);
    assert.equal(done['run'], 2);
    await eventually(async () => (await inspect.getJobState(jobId)) === 'completed', 'job completed');
    assert.equal(await db.collection('results').countDocuments({ job_id: jobId }), 2);
  } finally {
    rmSync(join(cfg.handlersDir, 'quick'), { force: true });
  }
});

test('worker shutdown - a handler that ends within the grace finishes normally', async () => {
  for (const w of workers.splice(0)) await w.close();
  const w = await startWorker();
  const { eventId, jobId } = await enqueue('local:shut.short');
  await eventually(async () => existsSync(marker('started', eventId)), 'short handler started');
  await w.close();
  assert.ok(existsSync(marker('finished', eventId)), 'the handler ran to its end');
  const rs = await db.collection('results').find({ job_id: jobId }).toArray();
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!['status'], 'ok');
  assert.equal(await inspectShort.getJobState(jobId), 'completed');
});
