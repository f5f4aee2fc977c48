import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { MongoArchive } from '../../src/archive/mongo-archive.js';
import { buildSettings } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';
import { sampleEvent } from '../helpers/events.js';

const database = uniqueName('mopts').replaceAll('-', '_');
const archives: MongoArchive[] = [];
// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  await Promise.all(archives.map((a) => a.close()));
  await dropDatabase(await services.mongoUrl(), database);
});
const services = useServices();

/** The archive as a reading command opens it from `config.json` content. */
async function open(mongodb: Record<string, unknown>): Promise<MongoArchive> {
  const { settings } = buildSettings('<test>', { mongodb: { database, ...mongodb } }, {}, {});
  const a = await MongoArchive.connect({ ...settings.mongo, log: silentLogger() });
  archives.push(a);
  return a;
}

test('mongo options - write_concern and read_preference from config.json are the client settings, and writes and reads work with them', async () => {
  const a = await open({ url: await services.mongoUrl(), write_concern: { w: 1, j: true, wtimeout_ms: 5000 }, read_preference: 'primaryPreferred' });
  assert.equal(a.db.writeConcern?.w, 1);
  assert.equal(a.db.writeConcern?.journal, true);
  assert.equal(a.db.writeConcern?.wtimeoutMS, 5000);
  assert.equal(a.db.readPreference.mode, 'primaryPreferred');
  assert.deepEqual(await a.insertEvents([sampleEvent({ id: 'wc-1' }), sampleEvent({ id: 'wc-2' })]), { inserted: 2, duplicates: 0, conflicts: 0, rejected: 0 });
  assert.deepEqual(await a.insertEvents([sampleEvent({ id: 'wc-1' })]), { inserted: 0, duplicates: 1, conflicts: 0, rejected: 0 });
  assert.equal((await a.getEvent('wc-2'))?.id, 'wc-2');
});

test('mongo options - config keys win over the connection string; connection-string options pass through when the keys are unset', async () => {
  const url = new URL(await services.mongoUrl());
  url.searchParams.set('w', '2');
  url.searchParams.set('readPreference', 'secondaryPreferred');
  const configWins = await open({ url: url.toString(), write_concern: { w: 1 }, read_preference: 'primary' });
  assert.equal(configWins.db.writeConcern?.w, 1);
  assert.equal(configWins.db.readPreference.mode, 'primary');
  assert.equal((await configWins.insertEvents([sampleEvent({ id: 'wc-3' })])).inserted, 1);
  const passedThrough = await open({ url: url.toString() });
  assert.equal(passedThrough.db.writeConcern?.w, 2);
  assert.equal(passedThrough.db.readPreference.mode, 'secondaryPreferred');
});
