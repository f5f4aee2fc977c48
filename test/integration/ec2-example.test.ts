import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { startRouterDaemon, type RouterDaemon } from '../../src/daemons/router-daemon.js';
import { startSubDaemon, type SubDaemon } from '../../src/daemons/sub-daemon.js';
import { startWorkerDaemon, type WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { silentLogger } from '../../src/logger.js';
import { dropDatabase, useServices } from '../helpers/services.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

// handlers/examples/ec2-state, as shipped, through the router, subscriber, workers and archive.

const EXAMPLE = join(import.meta.dirname, '../../handlers/examples/ec2-state');
const read = (name: string): string => readFileSync(join(EXAMPLE, name), 'utf8');

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
    handlers: JSON.parse(read('event-handlers.json')) as Record<string, unknown>,
    files: Object.fromEntries(['ec2_normalize.ts', 'ec2_sentence.ts', 'ec2-csv.sh'].map((f) => [f, read(f)])),
  });
  const log = silentLogger();
  router = await startRouterDaemon(cfg.settings, log);
  sub = await startSubDaemon(cfg.settings, log);
  worker = await startWorkerDaemon(cfg.settings, log);
  client = new RouterClient({ uri: router.endpoints.rep[0]!, timeoutMs: 5000 });
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(cfg.database);
  await eventually(async () => {
    const probe = await client.send({ event_type: 'probe' });
    return eventually(() => db.collection('events').findOne({ _id: probe.id as never }), 'probe archived', 300).catch(() => null);
  }, 'subscriber to join');
});

test('ec2 example - five states normalised once and fanned out to CSV and a sentence; the ignored instance and pending are skipped, with their decisions archived', async () => {
  const samples = JSON.parse(read('sample-events.json')) as { namespace: string; event_type: string; payload: { detail: { state: string } } }[];
  const fired = [];
  for (const s of samples) fired.push(await client.send(s));
  const normalised = await eventually(async () => {
    const docs = await db.collection('events').find({ key: 'aws:ec2.instance-state' }).toArray();
    return docs.length === 6 ? docs : undefined;
  }, 'six normalised events (all but pending)');
  const results = await eventually(async () => {
    const rs = await db.collection('results').find({ key: 'aws:ec2.instance-state' }).toArray();
    return rs.length === 10 ? rs : undefined;
  }, 'ten fan-out results (five states, two handlers each)');
  assert.ok(
    results.every((r) => r['status'] === 'ok'),
    JSON.stringify(results.filter((r) => r['status'] !== 'ok')),
  );
  const csv = results
    .filter((r) => r['driver'] === 'shell')
    .map((r) => String(r['data']).trim())
    .sort();
  assert.deepEqual(csv, [
    '2026-11-30T08:00:00Z,123456789012,eu-west-1,i-0abc1111,running',
    '2026-11-30T08:01:00Z,123456789012,eu-west-1,i-0abc2222,stopping',
    '2026-11-30T08:02:00Z,123456789012,eu-west-1,i-0abc2222,stopped',
    '2026-11-30T08:03:00Z,123456789012,us-east-1,i-0abc3333,shutting-down',
    '2026-11-30T08:04:00Z,123456789012,us-east-1,i-0abc3333,terminated',
  ]);
  const sentences = results.filter((r) => r['driver'] === 'tsfunc').map((r) => String(r['data']));
  assert.ok(
    sentences.includes('EC2 instance web-1 (i-0abc1111) in eu-west-1, account 123456789012, is now running as of 2026-11-30T08:00:00Z.'),
    sentences.join('\n'),
  );
  assert.ok(sentences.some((s) => s.startsWith('EC2 instance batch, nightly (i-0abc3333) in us-east-1') && s.includes('was terminated')));
  // The ignored instance: normalised, then skipped by anything-but, which its event says.
  const ignored = normalised.find((e) => (e['payload'] as { instance_id: string }).instance_id === 'i-0abc4444')!;
  const decisions = ignored['decisions'] as { run: boolean; stage?: string; reason?: string }[];
  assert.deepEqual(
    decisions.map((d) => [d.run, d.stage]),
    [
      [false, 'when'],
      [false, 'when'],
    ],
  );
  assert.match(decisions[0]!.reason!, /payload\.monitoring is "ignore"/);
  // pending: archived, not normalised, and the raw event says why.
  const pending = await db.collection('events').findOne({ _id: fired.at(-1)!.id as never });
  assert.equal((pending!['decisions'] as { stage: string }[])[0]!.stage, 'when');
});
