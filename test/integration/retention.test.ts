import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MongoArchive } from '../../src/archive/mongo-archive.js';
import { describeRun } from '../../src/handlers/run-job.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { silentLogger } from '../../src/logger.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';
import { sampleEvent } from '../helpers/events.js';
import { NOT_BUILT, runBin } from '../helpers/bins.js';
import { writeTestConfig } from '../helpers/config.js';

const databases: string[] = [];
const archives: MongoArchive[] = [];
after(async () => {
  for (const a of archives) await a.close();
  for (const d of databases) await dropDatabase(await services.mongoUrl(), d);
});
const services = useServices();

const DAY = 86_400_000;
const spec: HandlerSpec = { id: 'h1', key: 'local:zmq.test', driver: 'shell', command: 'x.sh', exclusive: false };

async function archiveWithHistory(database: string, retention: { eventsDays?: number; resultsDays?: number }): Promise<MongoArchive> {
  databases.push(database);
  const a = await MongoArchive.connect({ url: await services.mongoUrl(), database, log: silentLogger(), retention });
  archives.push(a);
  const now = Date.now() / 1000;
  await a.insertEvents([sampleEvent({ id: 'old', timestamp: now - 40 * 86_400 }), sampleEvent({ id: 'new', timestamp: now - 3600 })]);
  const run = (id: string, ageDays: number, dead: boolean) => {
    const start = new Date(Date.now() - ageDays * DAY);
    const r = describeRun(spec, sampleEvent({ id }), { id: `${id}.h1`, run: 1 }, 1, { status: dead ? 'error' : 'ok', data: null }, start, start);
    r.dead = dead;
    return r;
  };
  await a.insertResults([run('old', 40, false), run('old-dead', 40, true), run('new', 0, false)]);
  return a;
}

test('retention - on a server without TTL indexes, prune deletes what retention no longer keeps and keeps dead letters', async () => {
  const a = await archiveWithHistory(uniqueName('ret').replaceAll('-', '_'), { eventsDays: 30, resultsDays: 30 });
  if (a.retentionMode === 'ttl') return; // a real MongoDB: its TTL indexes do the work (tested below)
  assert.equal(a.retentionMode, 'prune');
  const r = await a.prune({ eventsDays: 30, resultsDays: 30 });
  assert.deepEqual([r.events, r.results], [1, 1]);
  assert.deepEqual(
    (await a.events.find().toArray()).map((e) => e['_id']),
    ['new'],
  );
  assert.deepEqual((await a.results.find().sort({ _id: 1 }).toArray()).map((x) => x._id).sort(), ['new.h1#1', 'old-dead.h1#1']);
});

test('retention - where the server has TTL indexes they are created with the period, dead letters excluded', async () => {
  const a = await archiveWithHistory(uniqueName('ttl').replaceAll('-', '_'), { eventsDays: 7, resultsDays: 2 });
  if (a.retentionMode !== 'ttl') return; // FerretDB: covered by the prune test
  const idx = await a.results.listIndexes().toArray();
  const ttl = idx.find((i) => i['name'] === 'start_ttl')!;
  assert.equal(ttl['expireAfterSeconds'], 2 * 86_400);
  assert.deepEqual(ttl['partialFilterExpression'], { dead: false });
});

test('retention - archive prune, run as the timer runs it, reports what it deleted', { skip: NOT_BUILT }, async () => {
  const cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {},
    extra: { archive: { retention_days: 30 } },
  });
  databases.push(cfg.database);
  const a = await archiveWithHistory(cfg.database, {});
  const r = await runBin('event-reactor', ['archive', 'prune', '-c', cfg.configFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /deleted 1 events before .*; results kept \(no retention\)/);
  assert.equal(await a.events.countDocuments(), 1);
});
