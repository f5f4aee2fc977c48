import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSettings, loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/eventreactor/${name}`, import.meta.url));

function problemsOf(fn: () => unknown): { path: string; message: string; file: string }[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

test('config - EventReactor sample (feeds.feeders) loads, warning once per unsupported key', () => {
  const { settings, warnings } = loadConfig({ path: fixture('config.json'), env: {} });
  assert.equal(settings.router.pullBind, 'tcp://*:45454');
  assert.deepEqual(settings.router.rep, [{ bind: 'tcp://*:55055', namespace: 'local' }]);
  assert.equal(settings.router.pubBind, 'tcp://*:55000');
  assert.equal(settings.sub.publisherUri, 'tcp://127.0.0.1:55000');
  assert.equal(settings.worker.routerUri, 'tcp://127.0.0.1:55055');
  assert.equal(settings.handlersDir, '/etc/event-reactor/event-handlers');
  assert.equal(settings.logLevel, 'info');
  const paths = warnings.map((w) => w.path).sort();
  assert.deepEqual(paths, ['celery', 'logging.format']);
  const [amqp] = settings.inputs.list;
  assert.equal(amqp?.handler, 'AMQPInput');
  assert.equal(amqp?.name, 'AMQPInput');
  assert.equal(amqp?.namespace, 'openstack');
  assert.deepEqual(amqp?.config.bindings, ['keystone', 'nova', 'neutron']);
  assert.equal(settings.inputs.routerUri, 'tcp://127.0.0.1:55055');
  for (const w of warnings) assert.equal(w.file, fixture('config.json'));
});

test('config - EventReactor sample (inputs) loads', () => {
  const { settings, warnings } = loadConfig({ path: fixture('config-inputs.json'), env: {} });
  assert.equal(settings.router.rep.length, 1);
  assert.equal(settings.inputs.list[0]?.at, 'inputs[0]');
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['logging.format'],
  );
});

test('config - defaults < file < env < flags', () => {
  const raw = { redis: { url: 'redis://file:1' }, mongodb: { url: 'mongodb://file' } };
  const fromFile = buildSettings('/etc/x/config.json', raw, {}, {}).settings;
  assert.equal(fromFile.redisUrl, 'redis://file:1');
  assert.equal(fromFile.handlersFile, '/etc/x/event-handlers.json');
  assert.equal(fromFile.worker.timeoutMs, 60_000);
  assert.equal(fromFile.router.maxEventBytes, 1024 * 1024);
  const fromEnv = buildSettings('/c.json', raw, { REDIS_URL: 'redis://env:2', MONGO_URL: 'mongodb://env' }, {}).settings;
  assert.equal(fromEnv.redisUrl, 'redis://env:2');
  assert.equal(fromEnv.mongo.url, 'mongodb://env');
  const fromFlag = buildSettings('/c.json', raw, { REDIS_URL: 'redis://env:2' }, { redisUrl: 'redis://flag:3', concurrency: 3 }).settings;
  assert.equal(fromFlag.redisUrl, 'redis://flag:3');
  assert.equal(fromFlag.worker.concurrency, 3);
});

test('config - every problem is reported with file and key path', () => {
  const problems = problemsOf(() =>
    buildSettings('/c.json', { outputs: [{ handler: 'zeromq', config: { port: 'x' } }], worker: { concurrency: 0 }, queue: { name: 'a:b' } }, {}, {}),
  );
  const paths = problems.map((p) => p.path).sort();
  assert.deepEqual(paths, ['outputs[0].config.port', 'queue.name', 'worker.concurrency']);
  for (const p of problems) assert.equal(p.file, '/c.json');
});

test('config - a REP feeder of the wrong type and an unknown level are errors', () => {
  const problems = problemsOf(() =>
    buildSettings(
      '/c.json',
      { feeds: { feeders: [{ handler: 'ZMQInput', config: { uri: 'tcp://*:1', type: 'zmq.PULL' } }] }, logging: { loglevel: 'LOUD' } },
      {},
      {},
    ),
  );
  assert.deepEqual(problems.map((p) => p.path).sort(), ['feeds.feeders[0].config.type', 'logging.loglevel']);
});

test('config - missing file and bad JSON name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'er-config-'));
  const missing = join(dir, 'nope.json');
  assert.match(problemsOf(() => loadConfig({ path: missing, env: {} }))[0]!.message, /not found/);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ "outputs": [ }');
  const [p] = problemsOf(() => loadConfig({ path: bad, env: {} }));
  assert.equal(p!.file, bad);
  assert.match(p!.message, /not valid JSON/);
});

test('config - EVENT_REACTOR_CONFIG is used when no path is given', () => {
  const { settings } = loadConfig({ env: { EVENT_REACTOR_CONFIG: fixture('config.json') } });
  assert.equal(settings.configFile, fixture('config.json'));
});

test('config - worker.lock_duration sets the job lock and stalled check in ms (default 30 s); below 1 s is refused', () => {
  const base = { outputs: [{ handler: 'zeromq', config: { port: 1 } }] };
  assert.equal(buildSettings('/c.json', base, {}, {}).settings.worker.lockDurationMs, 30_000);
  assert.equal(buildSettings('/c.json', { ...base, worker: { lock_duration: 5 } }, {}, {}).settings.worker.lockDurationMs, 5000);
  const problems = problemsOf(() => buildSettings('/c.json', { ...base, worker: { lock_duration: 0.5 } }, {}, {}));
  assert.deepEqual(
    problems.map((p) => p.path),
    ['worker.lock_duration'],
  );
});

test('config - unknown keys warn with their key path at every depth, and are ignored', () => {
  const raw = {
    worker: { concurency: 4 },
    router: { replay_max_event: 5 },
    outputs: [{ handler: 'zeromq', config: { port: 1, prot: 'tcp' } }],
    feeds: { feeders: [{ handler: 'ZMQInput', config: { uri: 'tcp://*:1', urii: 'x' } }] },
    mongodb: { url: 'mongodb://x', datbase: 'y' },
  };
  const { settings, warnings } = buildSettings('/c.json', raw, {}, {});
  assert.deepEqual(warnings.map((w) => w.path).sort(), [
    'feeds.feeders[0].config.urii',
    'mongodb.datbase',
    'outputs[0].config.prot',
    'router.replay_max_event',
    'worker.concurency',
  ]);
  for (const w of warnings) assert.equal(w.message, 'unknown key; ignored');
  assert.equal(settings.worker.concurrency, 16, 'the misspelt key does not set anything');
});

test('config - defaults come from the schema, one value per key', () => {
  const { settings } = buildSettings('/etc/x/config.json', {}, {}, {});
  assert.equal(settings.router.replayMaxBytes, 64 * 1024 * 1024);
  assert.equal(settings.sub.batchSize, 500);
  assert.equal(settings.worker.shutdownGraceMs, 10_000);
  assert.equal(settings.queue.name, 'event-reactor');
  assert.equal(settings.handlersDir, '/etc/x/event-handlers');
  assert.equal(settings.mongo.database, 'event_reactor');
});

test('config - subscriber.routers: each followed with a cursor of its own; two routers of one name are refused', () => {
  const routers = [
    { name: 'r1', publisher_uri: 'tcp://r1:55000', replay_uri: 'tcp://r1:55001' },
    { name: 'r2', publisher_uri: 'tcp://r2:55000', replay_uri: 'tcp://r2:55001' },
  ];
  const { settings } = buildSettings('<test>', { subscriber: { name: 'ops', routers } }, {}, {});
  assert.deepEqual(
    settings.sub.routers.map((r) => [r.name, r.publisherUri, r.cursor]),
    [
      ['r1', 'tcp://r1:55000', 'ops@r1'],
      ['r2', 'tcp://r2:55000', 'ops@r2'],
    ],
  );
  assert.equal(settings.sub.publisherUri, 'tcp://r1:55000');
  const problems = problemsOf(() => buildSettings('<test>', { subscriber: { routers: [routers[0], routers[0]] } }, {}, {}));
  assert.ok(
    problems.some((p) => p.path.startsWith('subscriber.routers') && /must differ/.test(p.message)),
    JSON.stringify(problems),
  );
});

test('config - redis.url takes Sentinel and Cluster addresses; with a cluster the queue prefix gets a hash tag', () => {
  const sentinel = buildSettings('<test>', { redis: { url: 'redis+sentinel://s1:26379,s2:26379/er' } }, {}, {}).settings;
  assert.equal(sentinel.redisUrl, 'redis+sentinel://s1:26379,s2:26379/er');
  assert.equal(sentinel.queue.prefix, 'bull');
  const cluster = buildSettings('<test>', { redis: { url: 'redis+cluster://n1:7000' } }, {}, {}).settings;
  assert.equal(cluster.queue.prefix, '{bull}');
  const tagged = buildSettings('<test>', { queue: { prefix: '{jobs}' } }, { REDIS_URL: 'redis+cluster://n1:7000' }, {}).settings;
  assert.equal(tagged.queue.prefix, '{jobs}');
  assert.deepEqual(cluster.redisWait, { replicas: 0, timeoutMs: 1000 });
});

test('config - a malformed Redis address is refused with its key path, from the file, REDIS_URL or --redis-url', () => {
  const fromFile = problemsOf(() => buildSettings('<test>', { redis: { url: 'redis+sentinel://s1:26379' } }, {}, {}));
  assert.deepEqual(
    fromFile.map((p) => p.path),
    ['redis.url'],
  );
  assert.match(fromFile[0]!.message, /master name/);
  const fromEnv = problemsOf(() => buildSettings('<test>', {}, { REDIS_URL: 'redis+cluster://n1' }, {}));
  assert.match(fromEnv[0]!.message, /^REDIS_URL: "n1" is not host:port/);
  const fromFlag = problemsOf(() => buildSettings('<test>', {}, {}, { redisUrl: 'tcp://x' }));
  assert.match(fromFlag[0]!.message, /^--redis-url: /);
});

test('config - redis.wait_replicas and wait_timeout_ms set the replicas writes wait for', () => {
  const { settings } = buildSettings('<test>', { redis: { wait_replicas: 1, wait_timeout_ms: 500 } }, {}, {});
  assert.deepEqual(settings.redisWait, { replicas: 1, timeoutMs: 500 });
  const problems = problemsOf(() => buildSettings('<test>', { redis: { wait_replicas: -1 } }, {}, {}));
  assert.deepEqual(
    problems.map((p) => p.path),
    ['redis.wait_replicas'],
  );
});

test('config - mongodb.write_concern and read_preference reach the archive settings in the driver words; bad values refused with their key path', () => {
  const { settings } = buildSettings(
    '<test>',
    { mongodb: { write_concern: { w: 'majority', j: true, wtimeout_ms: 5000 }, read_preference: 'secondaryPreferred' } },
    {},
    {},
  );
  assert.deepEqual(settings.mongo.writeConcern, { w: 'majority', journal: true, wtimeoutMS: 5000 });
  assert.equal(settings.mongo.readPreference, 'secondaryPreferred');
  const unset = buildSettings('<test>', {}, {}, {}).settings;
  assert.equal(unset.mongo.writeConcern, undefined);
  assert.equal(unset.mongo.readPreference, undefined);
  const problems = problemsOf(() => buildSettings('<test>', { mongodb: { write_concern: { w: 0 }, read_preference: 'secondaryOnly' } }, {}, {}));
  assert.deepEqual(problems.map((p) => p.path).sort(), ['mongodb.read_preference', 'mongodb.write_concern.w']);
  assert.match(problems.find((p) => p.path === 'mongodb.write_concern.w')!.message, /at least 1/);
});
