/**
 * The router under test, hosted exactly like bare-relay.ts: `new Router(...)` from
 * src/router/router.ts with a PULL and a PUB socket, settings built from a config object
 * by `buildSettings` as the daemon does, a silent logger.
 *
 * Environment and stdout lines as in bare-relay.ts. With BENCH_REDIS_URL, the router keeps
 * its journal in that Redis (`router.journal: "redis"`, the default in a deployment): every
 * event is in the stream before it is published.
 */
import { buildSettings } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { createRegistry } from '../../src/metrics.js';
import { Router } from '../../src/router/router.js';
import { RedisJournal } from '../../src/router/redis-journal.js';

const pullBind = process.env['BENCH_PULL_BIND'] || 'tcp://127.0.0.1:*';
const pubBind = process.env['BENCH_PUB_BIND'] || 'tcp://127.0.0.1:*';
const hwm = Number(process.env['BENCH_PUB_HWM'] || 100_000);

const config = {
  aggregator: { config: { uri: pullBind, namespace: 'local' } },
  feeds: { feeders: [] },
  outputs: [{ handler: 'zeromq', config: { uri: pubBind, framing: 'multipart', sndhwm: hwm } }],
};
const { settings } = buildSettings('<bench>', config, {}, {});
const redisUrl = process.env['BENCH_REDIS_URL'];
const s = settings.router;
const journal = redisUrl ? new RedisJournal({ redisUrl, name: `bench-${process.pid}`, maxEvents: s.replayMaxEvents, maxBytes: s.replayMaxBytes }) : undefined;
await journal?.start();
const router = new Router({
  settings: s,
  log: silentLogger(),
  registry: createRegistry('router'),
  ...(journal ? { journal, epoch: Date.now() } : {}),
});
const endpoints = await router.start();

process.once('SIGTERM', () => {
  void router
    .close()
    .then(() => journal?.close())
    .then(() => {
      process.stdout.write(`${JSON.stringify({ msg: 'relay closed', relayed: router.lastSeq })}\n`);
    });
});

process.stdout.write(`${JSON.stringify({ msg: 'relay listening', pull: endpoints.pull, pub: endpoints.pub })}\n`);
