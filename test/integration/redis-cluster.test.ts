import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { RuleState } from '../../src/rule-state/rule-state.js';
import { compileCorrelations } from '../../src/rules/stateful-specs.js';
import { readQueueCounts } from '../../src/queue/queue-counts.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';
import { writeTestConfig, type TestConfig } from '../helpers/config.js';
import { sampleEvent } from '../helpers/events.js';
import { exactlyOnce, redisCli, startInProcessStack, startRedisCluster, type InProcessStack, type RedisCluster } from '../helpers/redis-topologies.js';

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  await stack?.close();
  await cluster?.stop();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();
let cluster: RedisCluster;
let cfg: TestConfig;
let stack: InProcessStack;

before(async () => {
  cluster = await startRedisCluster(3);
  cfg = await writeTestConfig({
    redisUrl: cluster.url,
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:cluster.test': [
        { driver: 'shell', handler: 'ok.sh' },
        { driver: 'shell', handler: 'ok.sh --exclusive', exclusive: true },
      ],
    },
    files: { 'ok.sh': '#!/bin/sh\necho "ran $EVENT_ID"\n' },
  });
  stack = await startInProcessStack(cfg, await services.mongoUrl());
});

test('redis cluster - the queue prefix gets a hash tag, so BullMQ keys share a slot', async () => {
  assert.equal(cfg.settings.queue.prefix, '{bull}');
  // The worker applies the exclusive entry's policy (its queue's first keys) soon after it starts.
  let holding: string[] = [];
  for (let i = 0; i < 100 && holding.length === 0; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 200));
    const keys = await Promise.all(cluster.nodes.map((n) => redisCli(n.port, ['--scan', '--pattern', `*bull*:${cfg.queue}*`], cluster.password)));
    holding = keys.filter((k) => k !== '');
  }
  assert.equal(holding.length, 1, 'every BullMQ key on one node');
  for (const k of holding[0]!.split('\n')) assert.ok(k.startsWith('{bull}:'), k);
});

test('redis cluster - events through router, subscriber and worker are archived once and run each handler once', async () => {
  const ids = Array.from({ length: 100 }, (_, i) => `cl-${i}-${uniqueName('e')}`);
  for (const id of ids) await stack.client.send({ id, event_type: 'cluster.test', payload: { n: id } });
  // The same ids again: deduplicated by the archive and the job ids.
  for (const id of ids.slice(0, 30)) await stack.client.send({ id, event_type: 'cluster.test', payload: { n: id } });
  const deadline = Date.now() + 90_000;
  let tally = await exactlyOnce(stack.db, ids, 2);
  while (tally.missing > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    tally = await exactlyOnce(stack.db, ids, 2);
  }
  assert.deepEqual(tally, { archived: 100, results: 200, duplicates: 0, missing: 0 });
  const { counts, entries } = await readQueueCounts(cfg.settings.redisUrl, cfg.settings.queue);
  assert.ok(entries.length > 0, 'the entries have their queues');
  for (const [name, c] of Object.entries(counts)) assert.equal(c.failed, 0, `no dead job in ${name}`);
});

test('redis cluster - the journal stream of a router lives on one shard (the hash tag of its name)', async () => {
  const journal = `er:journal:{${cfg.settings.router.name}}`;
  const lengths = await Promise.all(cluster.nodes.map((n) => redisCli(n.port, ['xlen', journal], cluster.password).catch(() => 'MOVED')));
  assert.equal(lengths.filter((l) => /^\d+$/.test(l) && Number(l) > 100).length, 1, `one node holds the stream: ${lengths.join(', ')}`);
});

test('redis cluster - a correlation (a two-key script) completes once on the cluster', async () => {
  const state = new RuleState({ redisUrl: cluster.url, prefix: uniqueName('cor') });
  try {
    const [deploy] = compileCorrelations(
      { done: { all: ['ci:deploy.started', 'ci:deploy.finished'], within: 600, by: 'payload.deploy_id', emit: 'ci:deploy.completed' } },
      { path: 'correlations' },
    );
    const ev = (id: string, type: string, dep: string) => sampleEvent({ id, namespace: 'ci', event_type: type, payload: { deploy_id: dep } });
    for (let d = 0; d < 20; d++) {
      assert.deepEqual(await state.correlate(ev(`s${d}`, 'deploy.started', `d${d}`), 'ci:deploy.started', [deploy!]), []);
      const done = await state.correlate(ev(`f${d}`, 'deploy.finished', `d${d}`), 'ci:deploy.finished', [deploy!]);
      assert.deepEqual(
        done.map((x) => x.ids),
        [[`s${d}`, `f${d}`]],
      );
    }
  } finally {
    await state.close();
  }
});
