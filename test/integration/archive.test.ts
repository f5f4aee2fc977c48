import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MongoArchive } from '../../src/archive/mongo-archive.js';
import { silentLogger } from '../../src/logger.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';
import { sampleEvent } from '../helpers/events.js';

const database = uniqueName('archive').replaceAll('-', '_');
let archive: MongoArchive | undefined;
// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  await archive?.close();
  await dropDatabase(await services.mongoUrl(), database);
});
const services = useServices();

async function open(): Promise<MongoArchive> {
  archive ??= await MongoArchive.connect({ url: await services.mongoUrl(), database, log: silentLogger() });
  return archive;
}

test('archive - events are stored once by id, with key and time; duplicates are counted', async () => {
  const a = await open();
  const e1 = sampleEvent({ id: 'a-1', timestamp: 1_700_000_000.5 });
  const e2 = sampleEvent({ id: 'a-2' });
  assert.deepEqual(await a.insertEvents([e1, e2]), { inserted: 2, duplicates: 0, conflicts: 0, rejected: 0 });
  assert.deepEqual(await a.insertEvents([e1, sampleEvent({ id: 'a-3' })]), { inserted: 1, duplicates: 1, conflicts: 0, rejected: 0 });
  const doc = await a.events.findOne({ _id: 'a-1' as never });
  assert.equal(doc?.['key'], 'local:zmq.test');
  assert.equal((doc?.['time'] as Date | undefined)?.getTime(), 1_700_000_000_500);
  assert.deepEqual(doc?.['payload'], { msg: 'hi' });
  assert.equal(await a.events.countDocuments({ _id: { $in: ['a-1', 'a-2', 'a-3'] } as never }), 3);
});

test('archive - a payload the server cannot store as fields is kept as JSON text', async () => {
  const a = await open();
  const weird = sampleEvent({ id: 'w-1', payload: { $where: 1, 'a.b': { c: 2 } } });
  assert.deepEqual(await a.insertEvents([weird, sampleEvent({ id: 'w-2' })]), { inserted: 2, duplicates: 0, conflicts: 0, rejected: 0 });
  const doc = await a.events.findOne({ _id: 'w-1' as never });
  assert.ok(doc, 'event was archived');
  if (doc['payload_json'] !== undefined) {
    assert.deepEqual(JSON.parse(String(doc['payload_json'])), weird.payload);
    assert.match(String(doc['archive_note']), /JSON text/);
  } else {
    assert.deepEqual(doc['payload'], weird.payload, 'a server that stores such keys keeps them as they are');
  }
});

test('archive - an id reused with other content is a conflict, recorded with both; the same event again is a plain duplicate', async () => {
  const a = await open();
  const first = sampleEvent({ id: 'c-1', payload: { b: 1, a: { y: 2, x: 1 } } });
  await a.insertEvents([first]);
  // Keys in another order: the same content.
  const same = sampleEvent({ id: 'c-1', payload: { a: { x: 1, y: 2 }, b: 1 }, seq: 99 });
  assert.deepEqual(await a.insertEvents([same]), { inserted: 0, duplicates: 1, conflicts: 0, rejected: 0 });
  const other = sampleEvent({ id: 'c-1', payload: { b: 2 } });
  assert.deepEqual(await a.insertEvents([other]), { inserted: 0, duplicates: 1, conflicts: 1, rejected: 0 });
  const c = await a.db.collection('conflicts').findOne({ event_id: 'c-1' });
  assert.deepEqual(JSON.parse(String(c?.['refused_json'])).payload, { b: 2 });
  assert.equal((await a.events.findOne({ _id: 'c-1' as never }))?.['payload']?.['b'], 1, 'the first one stays');
  assert.equal((await a.stats()).conflicts, 1);
});

test('archive - the archive fields given with an event (decisions) are stored with it', async () => {
  const a = await open();
  await a.insertEvents([sampleEvent({ id: 'd-1' })], [{ decisions: [{ key: 'local:zmq.test', handler: 'x.sh', id: 'abc', run: true }] }]);
  const doc = await a.events.findOne({ _id: 'd-1' as never });
  assert.deepEqual(doc?.['decisions'], [{ key: 'local:zmq.test', handler: 'x.sh', id: 'abc', run: true }]);
});

test('archive - indexes exist on key/time and connecting twice does not fail', async () => {
  const a = await open();
  const again = await MongoArchive.connect({ url: await services.mongoUrl(), database, log: silentLogger() });
  await again.close();
  const names = (await a.events.listIndexes().toArray()).map((i) => i.name);
  assert.ok(names.includes('key_time') && names.includes('time'), names.join(','));
});

test('archive - results are indexed by start (results ls) and by handler id (the --handler $or)', async () => {
  const a = await open();
  const names = (await a.results.listIndexes().toArray()).map((i) => i.name);
  for (const name of ['start', 'handler_id_start', 'handler_start', 'key_start']) assert.ok(names.includes(name), `${name} missing: ${names.join(',')}`);
});

test('archive - connection failure is an ArchiveError naming the server', async () => {
  await assert.rejects(
    MongoArchive.connect({ url: 'mongodb://user:secret@127.0.0.1:1/', database: 'x', log: silentLogger(), serverSelectionTimeoutMS: 300 }),
    (err: unknown) =>
      err instanceof Error && /cannot connect to MongoDB at mongodb:\/\/user:\*\*\*@127\.0\.0\.1:1/.test(err.message) && !err.message.includes('secret'),
  );
});
