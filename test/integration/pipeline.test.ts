import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { startRouterDaemon, type RouterDaemon } from '../../src/daemons/router-daemon.js';
import { startSubDaemon, type SubDaemon } from '../../src/daemons/sub-daemon.js';
import { startWorkerDaemon, type WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { silentLogger } from '../../src/logger.js';
import { metricValue } from '../../src/metrics.js';
import { dropDatabase, useServices } from '../helpers/services.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  client?.close();
  await router?.close();
  await sub?.close();
  await worker?.close();
  await mongo?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();
let cfg: TestConfig;
let router: RouterDaemon;
let sub: SubDaemon;
let worker: WorkerDaemon;
let client: RouterClient;
let mongo: MongoClient;
let db: Db;

before(async () => {
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:pipe.test': [
        { driver: 'shell', handler: 'record.sh' },
        { driver: 'tsfunc', handler: 'chain.follow' },
      ],
      'local:pipe.slow': [{ driver: 'shell', handler: 'slow.sh', timeout: 0.5 }],
      'local:pipe.excl': [{ driver: 'shell', handler: 'record.sh', exclusive: true }],
      'local:pipe.escape': [{ driver: 'tsfunc', handler: '../outside.run' }],
    },
    files: {
      'record.sh': '#!/bin/sh\nfor last; do :; done\nprintf "%s\\n" "$last" >> "$(dirname "$0")/runs.log"\necho "ran $EVENT_ID"\n',
      'slow.sh': '#!/bin/sh\nsleep 30\n',
      'chain.ts':
        'export async function follow(e: { id: string; payload: { n?: number } }, ctx: { fire(e: object): Promise<{ id: string }> }) {\n  const f = await ctx.fire({ event_type: "pipe.followup", payload: { from: e.id } });\n  return { followup: f.id };\n}\n',
    },
  });
  const log = silentLogger();
  router = await startRouterDaemon(cfg.settings, log);
  sub = await startSubDaemon(cfg.settings, log);
  worker = await startWorkerDaemon(cfg.settings, log);
  client = new RouterClient({ uri: router.endpoints.rep[0]!, timeoutMs: 5000 });
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(cfg.database);
  // PUB/SUB joins asynchronously: wait until a probe event reaches the archive.
  await eventually(async () => {
    const probe = await client.send({ event_type: 'probe' });
    return eventually(() => db.collection('events').findOne({ _id: probe.id as never }), 'probe archived', 300).catch(() => null);
  }, 'subscriber to join');
});

const results = (q: object): Promise<Record<string, unknown>[]> => db.collection('results').find(q).toArray();
const runsLog = (): string[] => {
  const f = join(cfg.handlersDir, 'runs.log');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : [];
};

test('pipeline - one event runs its shell and tsfunc handlers; both results archived with EventReactor fields', async () => {
  const e = await client.send({ event_type: 'pipe.test', payload: { n: 1 } });
  const rs = await eventually(async () => {
    const r = await results({ event_id: e.id });
    return r.length === 2 ? r : undefined;
  }, 'two results');
  const shell = rs.find((r) => r['driver'] === 'shell')!;
  const ts = rs.find((r) => r['driver'] === 'tsfunc')!;
  assert.equal(shell['status'], 'ok');
  assert.equal(shell['code'], 0);
  assert.equal(shell['data'], `ran ${e.id}\n`);
  assert.equal(shell['driver_type'], 'shell');
  assert.equal(shell['event_type'], 'pipe.test');
  assert.equal(shell['namespace'], 'local');
  assert.equal(shell['key'], 'local:pipe.test');
  assert.equal(shell['handler'], 'record.sh');
  assert.equal(shell['attempt'], 1);
  assert.ok(shell['start'] instanceof Date && shell['end'] instanceof Date);
  assert.equal(typeof shell['duration_ms'], 'number');
  assert.equal(shell['duration'], (shell['duration_ms'] as number) / 1000);
  assert.equal(typeof shell['host'], 'string');
  assert.equal(ts['status'], 'ok');
  const followId = (ts['data'] as { followup: string }).followup;
  const follow = await eventually(() => db.collection('events').findOne({ _id: followId as never }), 'follow-up event archived');
  assert.equal(follow['parent_event'], e.id);
  assert.equal(follow['trace_id'], e.trace_id);
  assert.equal(follow['key'], 'local:pipe.followup');
  const archived = await db.collection('events').findOne({ _id: e.id as never });
  assert.deepEqual(archived?.['payload'], { n: 1 });
  assert.equal(archived?.['seq'], e.seq);
});

test('pipeline - the same event id twice is archived once and runs each handler once', async () => {
  const id = `dup-${Date.now()}`;
  const first = await client.send({ id, event_type: 'pipe.excl', payload: { try: 1 } });
  const second = await client.send({ id, event_type: 'pipe.excl', payload: { try: 2 } });
  assert.notEqual(first.seq, second.seq);
  await eventually(async () => (await results({ event_id: id })).length === 1, 'one result');
  await eventually(async () => (await metricValue(sub.registry, 'sub_events_duplicate_total')) >= 1, 'duplicate counted');
  // Give a second (wrong) run time to show up before asserting it did not.
  const marker = await client.send({ event_type: 'pipe.excl', payload: { marker: true } });
  await eventually(async () => (await results({ event_id: marker.id })).length === 1, 'marker result');
  assert.equal((await results({ event_id: id })).length, 1);
  assert.equal(await db.collection('events').countDocuments({ _id: id as never }), 1);
  assert.equal(runsLog().filter((l) => l.includes(`"id":"${id}"`)).length, 1);
});

test('pipeline - a handler past its timeout is killed and recorded as timeout', async () => {
  const e = await client.send({ event_type: 'pipe.slow' });
  const [r] = await eventually(async () => {
    const rs = await results({ event_id: e.id });
    return rs.length > 0 ? rs : undefined;
  }, 'timeout result');
  assert.equal(r!['status'], 'timeout');
  assert.match(String(r!['error']), /timed out after 500 ms/);
  assert.ok((r!['duration_ms'] as number) < 10_000);
});

test('pipeline - a tsfunc path outside the handler directory is refused with a clear result', async () => {
  const e = await client.send({ event_type: 'pipe.escape' });
  const [r] = await eventually(async () => {
    const rs = await results({ event_id: e.id });
    return rs.length > 0 ? rs : undefined;
  }, 'refusal result');
  assert.equal(r!['status'], 'error');
  assert.equal(r!['error_code'], 'ERR_HANDLER_REFUSED');
  assert.match(String(r!['error']), /outside the handler directory/);
});

test('pipeline - events with no handlers are archived too', async () => {
  const e = await client.send({ namespace: 'elsewhere', event_type: 'nobody.listens', payload: { a: [1, 2] } });
  const doc = await eventually(() => db.collection('events').findOne({ _id: e.id as never }), 'archived');
  assert.equal(doc['key'], 'elsewhere:nobody.listens');
  assert.equal((await results({ event_id: e.id })).length, 0);
});
