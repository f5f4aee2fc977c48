import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import * as zmq from 'zeromq';
import { Router } from '../../src/router/router.js';
import { createRegistry, metricValue } from '../../src/metrics.js';
import { silentLogger } from '../../src/logger.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { ReplayClient } from '../../src/wire/replay-client.js';
import { RedisJournal } from '../../src/router/redis-journal.js';
import { Subscriber } from '../../src/sub/subscriber.js';
import { rulesFrom } from '../helpers/rules.js';
import { MongoArchive } from '../../src/archive/mongo-archive.js';
import { freePort } from '../../src/devstack/free-port.js';
import type { RouterSettings } from '../../src/config/settings.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';
import { eventually } from '../helpers/config.js';

const cleanup: (() => unknown)[] = [];
const database = uniqueName('replay').replaceAll('-', '_');
// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  for (const c of cleanup.reverse()) await c();
  await dropDatabase(await services.mongoUrl(), database);
});
const services = useServices();
let mongo: MongoClient;
let db: Db;
before(async () => {
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(database);
  cleanup.push(() => mongo.close());
});

interface Ports {
  pub: number;
  rep: number;
  replay: number;
}

async function ports(): Promise<Ports> {
  return { pub: await freePort(), rep: await freePort(), replay: await freePort() };
}

async function startRouter(
  p: Ports,
  over: Partial<RouterSettings> = {},
  journal?: RedisJournal,
): Promise<{ router: Router; client: RouterClient; registry: ReturnType<typeof createRegistry> }> {
  const registry = createRegistry('router');
  const router = new Router({
    ...(journal ? { journal, name: journal.key } : {}),
    settings: {
      pullBind: 'tcp://127.0.0.1:*',
      pullNamespace: 'local',
      rep: [{ bind: `tcp://127.0.0.1:${p.rep}`, namespace: 'local' }],
      pubBind: `tcp://127.0.0.1:${p.pub}`,
      framing: 'multipart',
      pubHighWaterMark: 100_000,
      maxEventBytes: 65536,
      maxHops: 8,
      refusalLogIntervalMs: 1000,
      replayBind: `tcp://127.0.0.1:${p.replay}`,
      replayMaxEvents: 1000,
      replayMaxBytes: 8 * 1024 * 1024,
      journal: 'memory',
      name: 'test',
      ...over,
    },
    log: silentLogger(),
    registry,
  });
  await router.start();
  const client = new RouterClient({ uri: `tcp://127.0.0.1:${p.rep}`, timeoutMs: 5000 });
  return { router, client, registry };
}

/** A subscriber that archives to this test's database (no handlers, no Redis needed). */
async function startSub(p: Ports, name: string): Promise<{ sub: Subscriber; archive: MongoArchive; registry: ReturnType<typeof createRegistry> }> {
  const archive = await MongoArchive.connect({ url: await services.mongoUrl(), database, log: silentLogger() });
  const registry = createRegistry('sub');
  const sub = new Subscriber({
    settings: { publisherUri: `tcp://127.0.0.1:${p.pub}`, replayUri: `tcp://127.0.0.1:${p.replay}`, batchSize: 100, batchMs: 5, name },
    rules: rulesFrom({}, registry),
    archive,
    queue: { addBulk: async (jobs) => jobs.length },
    log: silentLogger(),
    registry,
    idleCheckMs: 200,
    replayAttempts: 2,
  });
  await sub.start();
  return { sub, archive, registry };
}

async function fireMany(client: RouterClient, n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await client.send({ event_type: 'replay.test', payload: { tag, i } })).id);
  return ids;
}

const archivedCount = (ids: string[]): Promise<number> => db.collection('events').countDocuments({ _id: { $in: ids } as never });

test('replay - the replay socket serves events after a position, and a missed range exactly', async () => {
  const p = await ports();
  const { router, client } = await startRouter(p, { replayMaxEvents: 5 });
  const replay = new ReplayClient(`tcp://127.0.0.1:${p.replay}`);
  cleanup.push(
    () => router.close(),
    () => client.close(),
    () => replay.close(),
  );
  await fireMany(client, 8, 'proto');
  const r = await replay.since(router.epoch, 5);
  assert.deepEqual(
    r.events.map((e) => e.seq),
    [6, 7, 8],
  );
  assert.equal(r.missed, null);
  assert.equal(r.more, false);
  const old = await replay.since(router.epoch, 1);
  assert.deepEqual(old.missed, { epoch: router.epoch, from: 2, to: 3 });
  assert.deepEqual(
    old.events.map((e) => e.seq),
    [4, 5, 6, 7, 8],
  );
  const other = await replay.since(router.epoch - 1, 100);
  assert.equal(other.epoch_changed, true);
  const status = await replay.status();
  assert.equal(status.last_seq, 8);
  assert.equal(status.buffered, 5);
});

test('replay - a subscriber stopped while events flow catches up from its cursor on restart', async () => {
  const p = await ports();
  const { router, client } = await startRouter(p);
  cleanup.push(
    () => router.close(),
    () => client.close(),
  );
  const name = uniqueName('sub');
  const first = await startSub(p, name);
  const before = await fireMany(client, 20, 'before');
  await eventually(async () => (await archivedCount(before)) === 20, 'first 20 archived');
  await first.sub.close();
  await first.archive.close();
  const during = await fireMany(client, 50, 'during');
  const second = await startSub(p, name);
  cleanup.push(
    () => second.sub.close(),
    () => second.archive.close(),
  );
  await eventually(async () => (await archivedCount(during)) === 50, 'events fired while down archived');
  const after = await fireMany(client, 10, 'after');
  await eventually(async () => (await archivedCount(after)) === 10, 'live events after catch-up archived');
  // The 50 fired while it was down; and, on a busy machine, the last of the first 20 if it
  // was archived but its cursor not yet moved when the first subscriber stopped (taken
  // again, stored once: the counts above are exact).
  const replayed = await metricValue(second.registry, 'sub_events_replayed_total');
  assert.ok(replayed >= 50 && replayed <= 70, `replayed ${replayed}: the 50 missed, and at most the 20 before`);
  assert.equal(await metricValue(second.registry, 'sub_events_lost_total'), 0);
  // The cursor is saved at most every 100 ms, after the batches it covers.
  const cursor = await eventually(async () => {
    const c = await db.collection('cursors').findOne({ _id: name as never });
    return c?.['seq'] === router.lastSeq ? c : undefined;
  }, 'the cursor saved at the last event');
  assert.equal(cursor['epoch'], router.epoch);
});

test('replay - a gap the buffer cannot fill is counted and recorded with its exact range', async () => {
  const p = await ports();
  const { router, client } = await startRouter(p, { replayMaxEvents: 10 });
  cleanup.push(
    () => router.close(),
    () => client.close(),
  );
  const name = uniqueName('gap');
  const first = await startSub(p, name);
  const seen = await fireMany(client, 5, 'seen');
  await eventually(async () => (await archivedCount(seen)) === 5, 'first 5 archived');
  await first.sub.close();
  await first.archive.close();
  await fireMany(client, 30, 'while-down');
  const second = await startSub(p, name);
  cleanup.push(
    () => second.sub.close(),
    () => second.archive.close(),
  );
  const gap = await eventually(() => db.collection('gaps').findOne({ subscriber: name }), 'gap recorded');
  assert.equal(gap['epoch'], router.epoch);
  assert.equal(gap['from'], 6);
  assert.equal(gap['to'], 25);
  assert.equal(gap['count'], 20);
  assert.equal(await metricValue(second.registry, 'sub_events_lost_total'), 20);
  await eventually(async () => (await db.collection('events').countDocuments({ 'payload.tag': 'while-down' })) === 10, 'the 10 still buffered archived');
});

test('replay - after a router restart the subscriber follows the new epoch', async () => {
  const p = await ports();
  const one = await startRouter(p);
  const name = uniqueName('restart');
  const s = await startSub(p, name);
  cleanup.push(
    () => s.sub.close(),
    () => s.archive.close(),
  );
  const a = await fireMany(one.client, 5, 'epoch1');
  await eventually(async () => (await archivedCount(a)) === 5, 'epoch 1 archived');
  await one.router.close();
  one.client.close();
  // ZeroMQ releases the old listening sockets in its I/O thread, a moment after close.
  const two = await eventually(() => startRouter(p).catch(() => undefined), 'router restarted on the same ports', 5000);
  cleanup.push(
    () => two.router.close(),
    () => two.client.close(),
  );
  assert.notEqual(two.router.epoch, one.router.epoch);
  const b = await fireMany(two.client, 5, 'epoch2');
  await eventually(async () => (await archivedCount(b)) === 5, 'epoch 2 archived');
  await eventually(async () => s.sub.position?.epoch === two.router.epoch && s.sub.position.seq === 5, 'position in new epoch');
  // Without a journal the router cannot say whether its old run published anything more:
  // recorded as a range of unknown size, not as "nothing lost".
  const gap = await db.collection('gaps').findOne({ subscriber: name });
  assert.equal(gap?.['epoch'], one.router.epoch);
  assert.equal(gap?.['from'], 6);
  assert.equal(gap?.['to'], null);
  assert.equal(gap?.['count'], null);
});

async function openJournal(maxEvents = 1000): Promise<RedisJournal> {
  const journal = new RedisJournal({ redisUrl: await services.redisUrl(), name: uniqueName('journal'), maxEvents, maxBytes: 8 * 1024 * 1024 });
  await journal.start();
  cleanup.push(() => journal.close());
  return journal;
}

/** A router on the ports of `p` once ZeroMQ has released them, with `journal`. */
const restartRouter = (p: Ports, journal: RedisJournal, over: Partial<RouterSettings> = {}): ReturnType<typeof startRouter> =>
  eventually(() => startRouter(p, over, journal).catch(() => undefined), 'router restarted on the same ports', 5000);

test('replay - with the Redis journal, what a stopped subscriber missed is replayed across a router restart, in order, nothing lost', async () => {
  const p = await ports();
  const journal = await openJournal();
  const one = await startRouter(p, {}, journal);
  const name = uniqueName('journal-sub');
  const first = await startSub(p, name);
  const seen = await fireMany(one.client, 5, 'seen');
  await eventually(async () => (await archivedCount(seen)) === 5, 'first 5 archived');
  await first.sub.close();
  await first.archive.close();
  const missed = await fireMany(one.client, 40, 'while-sub-down');
  await one.router.close();
  one.client.close();
  const two = await restartRouter(p, journal);
  cleanup.push(
    () => two.router.close(),
    () => two.client.close(),
  );
  assert.ok(two.router.epoch > one.router.epoch);
  const later = await fireMany(two.client, 5, 'new-epoch');
  const second = await startSub(p, name);
  cleanup.push(
    () => second.sub.close(),
    () => second.archive.close(),
  );
  await eventually(async () => (await archivedCount([...missed, ...later])) === 45, 'both epochs archived');
  assert.equal(await db.collection('gaps').countDocuments({ subscriber: name }), 0, 'no gap, known or unknown');
  assert.equal(await metricValue(second.registry, 'sub_events_lost_total'), 0);
  assert.deepEqual(second.sub.position, { epoch: two.router.epoch, seq: 5 });
  // The journal's order is the router's: epoch one's events, then epoch two's.
  const docs = await db
    .collection('events')
    .find({ _id: { $in: [...missed, ...later] as never[] } })
    .toArray();
  assert.equal(new Set(docs.map((d) => `${d['epoch']}:${d['seq']}`)).size, 45);
  const status = await new ReplayClient(`tcp://127.0.0.1:${p.replay}`).status();
  assert.equal(status.journal, 'redis');
  assert.equal(status.buffered, 50);
});

test('replay - a Redis journal trimmed under a stopped subscriber: the exact ranges are recorded, the rest replayed', async () => {
  const p = await ports();
  // MAXLEN ~ trims whole stream nodes (100 entries): the journal keeps 100 to 199.
  const journal = await openJournal(10);
  const one = await startRouter(p, {}, journal);
  const name = uniqueName('journal-trim');
  const first = await startSub(p, name);
  const seen = await fireMany(one.client, 3, 'seen');
  await eventually(async () => (await archivedCount(seen)) === 3, 'first 3 archived');
  await first.sub.close();
  await first.archive.close();
  await fireMany(one.client, 300, 'while-sub-down');
  const extent = await journal.extent();
  assert.ok(extent.first && extent.first.seq > 4, `the journal was trimmed (first ${JSON.stringify(extent.first)})`);
  const second = await startSub(p, name);
  cleanup.push(
    () => one.router.close(),
    () => one.client.close(),
    () => second.sub.close(),
    () => second.archive.close(),
  );
  const gap = await eventually(() => db.collection('gaps').findOne({ subscriber: name }), 'gap recorded');
  assert.deepEqual([gap['epoch'], gap['from'], gap['to'], gap['count']], [one.router.epoch, 4, extent.first.seq - 1, extent.first.seq - 4]);
  await eventually(async () => second.sub.position?.seq === 303, 'the rest replayed');
  assert.equal(await metricValue(second.registry, 'sub_events_lost_total'), extent.first.seq - 4);
});

test('replay - a Redis journal read gives at most limit and about maxBytes (read in pages), in order, crossing epochs', async () => {
  const journal = await openJournal();
  const body = Buffer.from('{}');
  const epoch = (e: number): { epoch: number; seq: number; body: Buffer }[] => Array.from({ length: 40 }, (_, i) => ({ epoch: e, seq: i + 1, body }));
  await journal.append(epoch(1));
  await journal.append(epoch(2));
  // 100 bytes are 50 of these entries: several pages of the least page size (16).
  const first = await journal.since(1, 0, 1000, 100);
  assert.equal(first.entries.length, 50);
  assert.equal(first.more, true);
  const limited = await journal.since(1, 0, 20, 1_000_000);
  assert.deepEqual([limited.entries.length, limited.more], [20, true]);
  const tail = await journal.since(2, 30, 1000, 1_000_000);
  assert.deepEqual([tail.entries.map((e) => e.seq), tail.more], [[31, 32, 33, 34, 35, 36, 37, 38, 39, 40], false]);
  const read: string[] = [];
  for (let pos = { epoch: 1, seq: 0 }, more = true; more;) {
    const r = await journal.since(pos.epoch, pos.seq, 1000, 64);
    read.push(...r.entries.map((e) => `${e.epoch}-${e.seq}`));
    pos = r.entries.at(-1) ?? pos;
    more = r.more;
  }
  assert.deepEqual(
    read,
    [...epoch(1), ...epoch(2)].map((e) => `${e.epoch}-${e.seq}`),
  );
});

test('replay - a peer that pipelines requests and never reads is told not_reading once its replies back up, and a REQ client is served meanwhile', async () => {
  const p = await ports();
  const { router, client, registry } = await startRouter(p);
  const replay = new ReplayClient(`tcp://127.0.0.1:${p.replay}`);
  const dealer = new zmq.Dealer({ receiveHighWaterMark: 1, receiveBufferSize: 4096, linger: 0 });
  cleanup.push(
    () => router.close(),
    () => client.close(),
    () => replay.close(),
    () => dealer.close(),
  );
  // Replies of about 1 MB: a few fill what ZeroMQ and TCP hold for the peer.
  const pad = 'x'.repeat(60_000);
  for (let i = 0; i < 16; i++) await client.send({ event_type: 'replay.test', payload: { pad } });
  dealer.connect(`tcp://127.0.0.1:${p.replay}`);
  const request = JSON.stringify({ since: { epoch: router.epoch, seq: 0 } });
  const requests = 200;
  for (let i = 0; i < requests; i++) await dealer.send(['', request]);
  const count = (result: string): Promise<number> => metricValue(registry, 'router_replay_requests_total', { result });
  await eventually(async () => (await count('ok')) + (await count('not_reading')) === requests, 'every pipelined request answered or refused');
  assert.ok((await count('ok')) < 20, `only the replies ZeroMQ and TCP could hold were built (${await count('ok')})`);
  const r = await replay.since(router.epoch, 0);
  assert.equal(r.events.length, 16);
});
