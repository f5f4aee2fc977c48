import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MongoClient, type Db } from 'mongodb';
import { startRouterDaemon, type RouterDaemon } from '../../src/daemons/router-daemon.js';
import { startSubDaemon, type SubDaemon } from '../../src/daemons/sub-daemon.js';
import { startWorkerDaemon, type WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { freePort } from '../../src/devstack/free-port.js';
import type { ReactorSettings } from '../../src/config/settings.js';
import { collectStatus } from '../../src/daemons/stack-status.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { silentLogger } from '../../src/logger.js';
import { dropDatabase, useServices } from '../helpers/services.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

// Two routers, each with its own name, epoch and journal; one subscriber following both
// with a cursor each; a client that fails over from one to the other with the same id.

after(async () => {
  client?.close();
  for (const r of routers) await r.close();
  await sub?.close();
  await worker?.close();
  await mongo?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();
let cfg: TestConfig;
let settings: ReactorSettings;
const routers: RouterDaemon[] = [];
let sub: SubDaemon;
let worker: WorkerDaemon;
let client: RouterClient;
/** Each router's REP endpoint. */
let reps: string[] = [];
let mongo: MongoClient;
let db: Db;

/** Router `b`: the test config's router `a` on other ports, with its own name (and so its own journal). */
async function secondRouter(a: ReactorSettings): Promise<ReactorSettings> {
  const [pull, rep, pub, replay] = [await freePort(), await freePort(), await freePort(), await freePort()];
  return {
    ...a,
    router: {
      ...a.router,
      name: `${a.router.name}-b`,
      pullBind: `tcp://127.0.0.1:${pull}`,
      rep: [{ ...a.router.rep[0]!, bind: `tcp://127.0.0.1:${rep}` }],
      pubBind: `tcp://127.0.0.1:${pub}`,
      replayBind: `tcp://127.0.0.1:${replay}`,
    },
    http: { ...a.http, router: { host: '127.0.0.1', port: 0 } },
  };
}

const repOf = (s: ReactorSettings): string => s.router.rep[0]!.bind;

before(async () => {
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: { 'local:multi.test': [{ driver: 'shell', handler: 'mark.sh' }] },
    files: { 'mark.sh': '#!/bin/sh\necho "$EVENT_ID" >> "$(dirname "$0")/marks.log"\n' },
  });
  const a = { ...cfg.settings, router: { ...cfg.settings.router, name: `${cfg.settings.router.name}-a` } };
  const b = await secondRouter(a);
  const followed = [a, b].map((s) => ({
    name: s.router.name,
    publisherUri: s.router.pubBind,
    replayUri: s.router.replayBind,
    cursor: `${cfg.settings.sub.name}@${s.router.name}`,
  }));
  settings = { ...a, sub: { ...a.sub, publisherUri: followed[0]!.publisherUri, replayUri: followed[0]!.replayUri, routers: followed } };
  const log = silentLogger();
  routers.push(await startRouterDaemon(a, log), await startRouterDaemon(b, log));
  sub = await startSubDaemon(settings, log);
  worker = await startWorkerDaemon(settings, log);
  reps = [repOf(a), repOf(b)];
  client = new RouterClient({ uri: reps.join(','), timeoutMs: 1000 });
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(cfg.database);
  // Both PUB streams joined: a probe through each router is archived.
  for (const s of [a, b]) {
    const probe = new RouterClient({ uri: repOf(s), timeoutMs: 5000 });
    await eventually(async () => {
      const p = await probe.send({ event_type: 'probe' });
      return eventually(() => db.collection('events').findOne({ _id: p.id as never }), 'probe archived', 300).catch(() => null);
    }, `the subscriber to join ${s.router.name}`);
    probe.close();
  }
});

const marks = (): string[] => {
  try {
    return readFileSync(`${cfg.handlersDir}/marks.log`, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

test('multi router - one event id through both routers is archived once and runs once; each router has its cursor', async () => {
  const id = `both-${Date.now()}`;
  const [viaA, viaB] = await Promise.all(
    reps.map((uri) => {
      const c = new RouterClient({ uri, timeoutMs: 5000 });
      return c.send({ id, event_type: 'multi.test' }).finally(() => c.close());
    }),
  );
  assert.notEqual(viaA!.epoch, viaB!.epoch, 'two routers, two epochs');
  await eventually(async () => marks().includes(id), 'the handler ran');
  await eventually(
    async () => (await db.collection('cursors').countDocuments({ _id: { $in: settings.sub.routers.map((r) => r.cursor) } as never })) === 2,
    'a cursor per router',
  );
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await db.collection('events').countDocuments({ _id: id as never }), 1);
  assert.equal(marks().filter((m) => m === id).length, 1, 'ran once');
  const status = await collectStatus(settings);
  assert.deepEqual(
    status.routers.map((r) => [r.name, r.error]),
    settings.sub.routers.map((r) => [r.name, undefined]),
  );
});

test('multi router - a client fails over to the second router when the first dies; every acknowledged event is archived and run once', async () => {
  const acked: string[] = [];
  const fire = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) acked.push((await client.send({ event_type: 'multi.test', payload: { i } })).id);
  };
  await fire(20);
  await routers[0]!.close();
  await fire(20);
  assert.equal(acked.length, 40);
  await eventually(async () => (await db.collection('events').countDocuments({ _id: { $in: acked } as never })) === 40, 'every acknowledged event archived');
  await eventually(async () => acked.every((id) => marks().includes(id)), 'every handler ran');
  const counts = new Map<string, number>();
  for (const m of marks()) counts.set(m, (counts.get(m) ?? 0) + 1);
  assert.deepEqual(
    acked.filter((id) => counts.get(id) !== 1),
    [],
    'each ran exactly once',
  );
  const status = await collectStatus(settings);
  assert.ok(status.routers[0]!.error, 'status says the first router is unreachable');
  assert.equal(status.routers[1]!.error, undefined);
});

test('multi router - two subscribers on the same stream archive each event once and run each handler once', async () => {
  // A second subscriber with its own name (cursor) and metrics port, following router b.
  const b = settings.sub.routers[1]!;
  const second = await startSubDaemon(
    {
      ...settings,
      sub: { ...settings.sub, name: 'second', publisherUri: b.publisherUri, replayUri: b.replayUri, routers: [{ ...b, cursor: 'second' }] },
      http: { ...settings.http, sub: { host: '127.0.0.1', port: 0 } },
    },
    silentLogger(),
  );
  try {
    const direct = new RouterClient({ uri: reps[1]!, timeoutMs: 5000 });
    // Both subscribers have joined once a probe is in the second one's cursor.
    await eventually(async () => {
      await direct.send({ event_type: 'probe' });
      return db.collection('cursors').findOne({ _id: 'second' as never });
    }, 'the second subscriber to join');
    const ids: string[] = [];
    let lastSeq = 0;
    for (let i = 0; i < 30; i++) {
      const e = await direct.send({ event_type: 'multi.test', payload: { i } });
      ids.push(e.id);
      lastSeq = e.seq;
    }
    direct.close();
    await eventually(async () => ids.every((id) => marks().includes(id)), 'every handler ran');
    await eventually(async () => {
      const c = await db.collection('cursors').findOne({ _id: 'second' as never });
      return c && Number(c['seq']) >= lastSeq ? c : undefined;
    }, 'the second subscriber took them all');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await db.collection('events').countDocuments({ _id: { $in: ids } as never }), 30);
    const counts = new Map<string, number>();
    for (const m of marks()) counts.set(m, (counts.get(m) ?? 0) + 1);
    assert.deepEqual(
      ids.filter((id) => counts.get(id) !== 1),
      [],
      'each ran exactly once',
    );
  } finally {
    await second.close();
  }
});
