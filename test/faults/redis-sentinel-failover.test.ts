import { test, after } from 'node:test';
import { FAULT_EVENTS, Scenario } from './helpers/scenario.js';
import { redisCli, startSentinelGroup, type SentinelGroup } from '../helpers/redis-topologies.js';

type SentinelRedis = SentinelGroup & { destroy(): Promise<void> };
let s: Scenario<SentinelRedis> | undefined;
let group: SentinelGroup | undefined;
after(async () => {
  await s?.close();
  await group?.stop();
});

/** `redis.wait_replicas` of the daemons (`FAULT_WAIT_REPLICAS`, default 1); 0 measures what asynchronous replication loses. */
const WAIT_REPLICAS = Number(process.env['FAULT_WAIT_REPLICAS'] ?? 1);

test('faults - the Redis primary killed (kill -9) under Sentinel while events flow: a replica takes over, nothing acknowledged lost or run twice', async () => {
  // A primary, two replicas (one is left to wait for once the other is promoted) and three
  // sentinels; append-only files fsynced at every write, as the other scenarios' Redis.
  const g = await startSentinelGroup({ replicas: 2, durable: true });
  group = g;
  s = await Scenario.start<SentinelRedis>('redis-sentinel-failover', {
    redis: () => Promise.resolve(Object.assign(g, { destroy: () => g.stop() })),
    stack: { extra: { redis: { url: g.url, wait_replicas: WAIT_REPLICAS, wait_timeout_ms: 1000 } } },
  });
  const feeding = s.feeder.run();
  await s.feeder.waitDispatched(Math.floor(FAULT_EVENTS * 0.3));
  const old = await g.primaryPort();
  const killedAt = s.seconds;
  g.servers.find((n) => n.port === old)!.kill();
  const now = await g.failedOver(old, 120_000);
  const promotedAt = s.seconds;
  const replicas = /connected_slaves:(\d+)/.exec(await redisCli(now, ['info', 'replication'], g.password))?.[1];
  await feeding;
  const summary = await s.finish({
    wait_replicas: WAIT_REPLICAS,
    failover: {
      killed_at: Math.round(killedAt * 10) / 10,
      promoted_at: Math.round(promotedAt * 10) / 10,
      failover_s: Math.round((promotedAt - killedAt) * 10) / 10,
      replicas_after: Number(replicas),
    },
  });
  await s.assertNothingLost(summary);
});
