/**
 * The router under test, hosted exactly like bare-relay.ts: `new Router(...)` from
 * src/router/router.ts with a PULL and a PUB socket, settings built from a config object
 * by `buildSettings` as the daemon does, a silent logger.
 *
 * Environment and stdout lines as in bare-relay.ts.
 */
import { buildSettings } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { createRegistry } from '../../src/metrics.js';
import { Router } from '../../src/router/router.js';

const pullBind = process.env['BENCH_PULL_BIND'] || 'tcp://127.0.0.1:*';
const pubBind = process.env['BENCH_PUB_BIND'] || 'tcp://127.0.0.1:*';
const hwm = Number(process.env['BENCH_PUB_HWM'] || 100_000);

const config = {
  aggregator: { config: { uri: pullBind, namespace: 'local' } },
  feeds: { feeders: [] },
  outputs: [{ handler: 'zeromq', config: { uri: pubBind, framing: 'multipart', sndhwm: hwm } }],
};
const { settings } = buildSettings('<bench>', config, {}, {});
const router = new Router({ settings: settings.router, log: silentLogger(), registry: createRegistry('router') });
const endpoints = await router.start();

process.once('SIGTERM', () => {
  void router.close().then(() => {
    process.stdout.write(`${JSON.stringify({ msg: 'relay closed', relayed: router.lastSeq })}\n`);
  });
});

process.stdout.write(`${JSON.stringify({ msg: 'relay listening', pull: endpoints.pull, pub: endpoints.pub })}\n`);
