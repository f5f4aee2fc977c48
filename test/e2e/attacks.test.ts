import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { JobQueue } from '../../src/queue/job-queue.js';
import { jobIdFor } from '../../src/queue/job.js';
import { loadHandlersFile } from '../../src/config/handlers-file.js';
import { silentLogger } from '../../src/logger.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';
import { NOT_BUILT, runBin, startBin, type Running } from '../helpers/bins.js';
import { sampleEvent } from '../helpers/events.js';

// Attacks on the running daemons, as the built bins run them: a router asked to listen on
// the network without CURVE, and jobs forged straight into Redis.

let cfg: TestConfig;
let mongo: MongoClient;
let db: Db;
let queue: JobQueue | undefined;
const daemons: Running[] = [];

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  await queue?.close();
  await mongo?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();

before(async () => {
  if (NOT_BUILT) return;
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: { 'local:atk.ok': [{ driver: 'shell', handler: 'mark.sh ok', retries: 0 }] },
    files: { 'mark.sh': '#!/bin/sh\necho "$1" >> "$(dirname "$0")/marks.log"\n' },
    extra: { logging: { loglevel: 'INFO' } },
  });
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(cfg.database);
});

/** config.json with the PULL socket on every interface, and `security` as given. */
function exposedConfig(security: Record<string, unknown>): string {
  const config = JSON.parse(readFileSync(cfg.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
  config['aggregator'] = { config: { listen_address: '*', port: cfg.ports.pull, protocol: 'tcp', type: 'zmq.PULL' } };
  config['security'] = security;
  const file = join(cfg.dir, `exposed-${Object.keys(security).join('-') || 'plain'}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

test(
  'attack - protected mode: a router asked to bind tcp://* without CURVE exits 78 naming the socket, the address and both ways out',
  { skip: NOT_BUILT },
  async () => {
    const r = await runBin('event-router', ['-c', exposedConfig({})]);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /PULL/);
    assert.match(r.stderr, new RegExp(`tcp://\\*:${cfg.ports.pull}`));
    assert.match(r.stderr, /security\.curve/);
    assert.match(r.stderr, /allow_insecure/);
    // Allowed on purpose: it starts, and says so.
    const allowed = startBin('event-router', ['-c', exposedConfig({ allow_insecure: true })]);
    daemons.push(allowed);
    const warning = await allowed.waitFor(/allow_insecure/);
    assert.match(warning, /"level":40/);
    await allowed.waitFor(/"msg":"started"/);
    allowed.child.kill('SIGTERM');
    assert.equal(await allowed.exited, 0);
  },
);

test(
  'attack - jobs forged into Redis never run a command of their own: an unknown handler is a dead ERR_UNKNOWN_HANDLER result, a known id runs the table command, and dlq retry refuses the unknown one',
  { skip: NOT_BUILT },
  async () => {
    const worker = startBin('event-worker', ['-c', cfg.configFile]);
    daemons.push(worker);
    await worker.waitFor(/"msg":"started"/);
    queue = new JobQueue({ redisUrl: cfg.settings.redisUrl, queue: cfg.settings.queue, log: silentLogger(), defaults: { retries: 0, backoffMs: 0 } });
    await queue.start();
    const real = loadHandlersFile(cfg.settings.handlersFile).table.get('local:atk.ok')![0]!;
    const pwned = join(cfg.dir, 'pwned');
    const forgedCommand = `touch ${pwned}`;
    const unknownEvent = sampleEvent({ id: uniqueName('forged'), event_type: 'atk.ok' });
    const swappedEvent = sampleEvent({ id: uniqueName('swapped'), event_type: 'atk.ok' });
    const unknown = { ...real, id: 'f0f0f0f0f0f0f0f0', driver: 'shell' as const, command: forgedCommand };
    const swapped = { ...real, command: forgedCommand };
    await queue.addBulk([
      { event: unknownEvent, handler: unknown },
      { event: swappedEvent, handler: swapped },
    ]);

    const refused = await eventually(() => db.collection('results').findOne({ event_id: unknownEvent.id }), 'the forged job recorded');
    assert.deepEqual([refused['status'], refused['error_code'], refused['dead']], ['error', 'ERR_UNKNOWN_HANDLER', true]);
    assert.match(String(refused['error']), /not in this worker's event-handlers\.json/);
    const ran = await eventually(() => db.collection('results').findOne({ event_id: swappedEvent.id }), 'the job with a known id recorded');
    assert.deepEqual([ran['status'], ran['handler']], ['ok', 'mark.sh ok'], 'the table command ran, not the one in the job');
    assert.equal(readFileSync(join(cfg.handlersDir, 'marks.log'), 'utf8'), 'ok\n');
    assert.equal(existsSync(pwned), false, 'the forged command never ran');

    const jobId = jobIdFor(unknownEvent.id, unknown.id);
    await eventually(
      async () => (await runBin('event-reactor', ['dlq', 'list', '-c', cfg.configFile])).stdout.includes(jobId),
      'the forged job in the dead-letter queue',
    );
    const retry = await runBin('event-reactor', ['dlq', 'retry', jobId, '-c', cfg.configFile]);
    assert.equal(retry.code, 65, retry.stderr);
    assert.match(retry.stderr, /which event-handlers\.json no longer has \(restore the entry, or purge the job\)/);
    assert.equal(existsSync(pwned), false);
  },
);
