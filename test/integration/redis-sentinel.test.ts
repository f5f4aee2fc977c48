import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { RedisJournal } from '../../src/router/redis-journal.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';
import { writeTestConfig, type TestConfig } from '../helpers/config.js';
import { exactlyOnce, redisCli, startInProcessStack, startSentinelGroup, type InProcessStack, type SentinelGroup } from '../helpers/redis-topologies.js';

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  await stack?.close();
  await group?.stop();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();
let group: SentinelGroup;
let cfg: TestConfig;
let stack: InProcessStack;

before(async () => {
  // Two replicas: after a failover one is left, which the writes wait for (wait_replicas 1).
  group = await startSentinelGroup({ replicas: 2 });
  cfg = await writeTestConfig({
    redisUrl: group.url,
    mongoUrl: await services.mongoUrl(),
    handlers: { 'local:sentinel.test': [{ driver: 'shell', handler: 'ok.sh' }] },
    files: { 'ok.sh': '#!/bin/sh\necho "ran $EVENT_ID"\n' },
    extra: { redis: { url: group.url, wait_replicas: 1, wait_timeout_ms: 2000 } },
  });
  stack = await startInProcessStack(cfg, await services.mongoUrl());
});

async function settle(ids: readonly string[], handlers: number): Promise<Awaited<ReturnType<typeof exactlyOnce>>> {
  const deadline = Date.now() + 120_000;
  let tally = await exactlyOnce(stack.db, ids, handlers);
  while (tally.missing > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    tally = await exactlyOnce(stack.db, ids, handlers);
  }
  return tally;
}

test('redis sentinel - a journal write with wait_replicas resolves once a replica has it', async () => {
  const journal = new RedisJournal({ redisUrl: group.url, name: uniqueName('j'), maxEvents: 1000, maxBytes: 1 << 20, waitReplicas: 2, waitTimeoutMs: 2000 });
  try {
    await journal.start();
    await journal.append([{ epoch: 1, seq: 1, body: Buffer.from('{}') }]);
    const tooMany = new RedisJournal({ redisUrl: group.url, name: uniqueName('j'), maxEvents: 1000, maxBytes: 1 << 20, waitReplicas: 3, waitTimeoutMs: 300 });
    await tooMany.start();
    await assert.rejects(tooMany.append([{ epoch: 1, seq: 1, body: Buffer.from('{}') }]), /reached 2 of 3 replicas within 300 ms/);
    await tooMany.close();
  } finally {
    await journal.close();
  }
});

test('redis sentinel - events flow through redis+sentinel:// and keep flowing after the primary is killed; each acknowledged event archived and run once', async () => {
  const before = Array.from({ length: 100 }, (_, i) => `sb-${i}-${uniqueName('e')}`);
  for (const id of before) await stack.client.send({ id, event_type: 'sentinel.test' });
  assert.deepEqual(await settle(before, 1), { archived: 100, results: 100, duplicates: 0, missing: 0 });

  const old = await group.primaryPort();
  group.servers.find((s) => s.port === old)!.kill();
  const killedAt = Date.now();
  // Sent while the sentinels elect a new primary: each send waits (the router holds its
  // reply until the journal has the event) or is retried by the client with the same id.
  const acked: string[] = [];
  const during = Array.from({ length: 100 }, (_, i) => `sd-${i}-${uniqueName('e')}`);
  const sending = (async () => {
    for (const id of during) {
      for (;;) {
        try {
          await stack.client.send({ id, event_type: 'sentinel.test' });
          acked.push(id);
          break;
        } catch {
          // no reply in time: send again with the same id
        }
      }
    }
  })();
  const now = await group.failedOver(old);
  const failoverMs = Date.now() - killedAt;
  await sending;
  assert.notEqual(now, old);
  // The primary the sentinels name once the load is over (under load they may have moved it
  // again): not the killed one, and a master.
  const primary = await group.primaryPort();
  assert.notEqual(primary, old);
  assert.match(await redisCli(primary, ['info', 'replication'], group.password), /role:master/);
  assert.deepEqual(await settle(acked, 1), { archived: 100, results: 100, duplicates: 0, missing: 0 });
  assert.ok(failoverMs < 60_000, `failover took ${failoverMs} ms`);
});

test('redis sentinel - a manual failover demotes a live primary: the daemons move to the new one (a write on the old gets READONLY and reconnects) and events keep flowing once each', async () => {
  const old = await group.primaryPort();
  const ids = Array.from({ length: 60 }, (_, i) => `sm-${i}-${uniqueName('e')}`);
  const acked: string[] = [];
  let failedOver = false;
  const sending = (async () => {
    for (const id of ids) {
      for (;;) {
        try {
          await stack.client.send({ id, event_type: 'sentinel.test' });
          acked.push(id);
          break;
        } catch {
          // no reply in time: send again with the same id
        }
      }
      if (!failedOver) await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await redisCli(group.sentinels[0]!.port, ['sentinel', 'failover', group.master]);
  const now = await group.failedOver(old);
  failedOver = true;
  await sending;
  // The old primary lives on, as a replica of the new one.
  assert.match(await redisCli(old, ['info', 'replication'], group.password), /role:slave/);
  assert.notEqual(now, old);
  assert.deepEqual(await settle(acked, 1), { archived: 60, results: 60, duplicates: 0, missing: 0 });
});

test('redis sentinel - asynchronous replication: a write acknowledged by the primary alone is lost at failover; with wait_replicas it is never acknowledged', async () => {
  // The daemons are done: after this failover no replica is left, which their writes (wait_replicas 1) would wait for.
  await stack.close();
  const name = uniqueName('lost');
  const journal = (waitReplicas: number): RedisJournal =>
    new RedisJournal({ redisUrl: group.url, name, maxEvents: 1000, maxBytes: 1 << 20, waitReplicas, waitTimeoutMs: 300 });
  const [noWait, withWait] = [journal(0), journal(1)];
  await Promise.all([noWait.start(), withWait.start()]);
  const old = await group.primaryPort();
  const replicas = group.servers.filter((n) => n.alive && n.port !== old);
  try {
    // The replicas stop, and the primary drops its links to them (as after a network
    // blip): what it takes now reaches no replica before it dies.
    for (const r of replicas) r.pause();
    await redisCli(old, ['client', 'kill', 'type', 'replica'], group.password);
    await noWait.append([{ epoch: 1, seq: 1, body: Buffer.from('{"n":1}') }]);
    await assert.rejects(withWait.append([{ epoch: 1, seq: 2, body: Buffer.from('{"n":2}') }]), /reached 0 of 1 replicas within 300 ms/);
    assert.equal((await noWait.extent()).length, 2, 'the primary has both');
    group.servers.find((n) => n.port === old)!.kill();
  } finally {
    for (const r of replicas) r.resume();
  }
  await group.failedOver(old);
  const after = new RedisJournal({ redisUrl: group.url, name, maxEvents: 1000, maxBytes: 1 << 20 });
  try {
    await after.start();
    // Event 1 was acknowledged (no wait) and is gone; event 2 was refused, so a router would still hold it and write it again.
    assert.equal((await after.extent()).length, 0);
  } finally {
    await Promise.all([noWait.close(), withWait.close(), after.close()]);
  }
});
