/**
 * EventReactor's sample config.json (feeds.feeders with an AMQPInput feeder, as its
 * README ships it), given a reachable RabbitMQ, free ports and this stack's stores, run as
 * an operator runs it: the four built bins. An OpenStack notification published to one of
 * the bound exchanges goes through the inputs daemon, the router, the subscriber and a
 * pyfunc handler written as EventReactor's documentation shows one; its result is in
 * MongoDB.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type ChannelModel } from 'amqplib';
import { MongoClient } from 'mongodb';
import { freePort } from '../../src/devstack/free-port.js';
import { NOT_BUILT, startBin, type Running } from '../helpers/bins.js';
import { AMQP_URL, requireBroker } from '../helpers/brokers.js';
import { eventually } from '../helpers/config.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/eventreactor/', import.meta.url));

const bins: Running[] = [];
let amqp: ChannelModel | undefined;
let mongo: MongoClient | undefined;
let database: string | undefined;
const exchanges: string[] = [];
let queue: string | undefined;
after(async () => {
  for (const b of bins) if (b.child.exitCode === null) b.child.kill('SIGKILL');
  if (amqp) {
    const ch = await amqp.createChannel();
    for (const e of exchanges) await ch.deleteExchange(e).catch(() => undefined);
    if (queue) await ch.deleteQueue(queue).catch(() => undefined);
    await amqp.close();
  }
  await mongo?.close();
  if (database) await dropDatabase(await services.mongoUrl(), database);
});
const services = useServices();

let configFile: string;

before(async () => {
  if (NOT_BUILT) return;
  await requireBroker('RabbitMQ', AMQP_URL);
  amqp = await connect(AMQP_URL);
  const dir = mkdtempSync(join(tmpdir(), 'er-sample-'));
  const handlersDir = join(dir, 'event-handlers');
  mkdirSync(handlersDir);
  chmodSync(handlersDir, 0o755);
  copyFileSync(join(FIXTURES, 'event-handlers', 'openstack_events.py'), join(handlersDir, 'openstack_events.py'));
  chmodSync(join(handlersDir, 'openstack_events.py'), 0o644);
  writeFileSync(
    join(dir, 'event-handlers.json'),
    JSON.stringify({ 'openstack:compute.instance.create.end': [{ driver: 'pyfunc', handler: 'openstack_events.summarize', exclusive: false }] }),
  );
  // The sample as shipped, with what it leaves to the operator filled in.
  const sample = JSON.parse(readFileSync(join(FIXTURES, 'config.json'), 'utf8')) as {
    feeds: { feeders: { handler: string; config: Record<string, unknown> }[] };
    outputs: { config: Record<string, unknown> }[];
    aggregator: { config: Record<string, unknown> };
    [k: string]: unknown;
  };
  const amqpFeeder = sample.feeds.feeders.find((f) => f.handler === 'AMQPInput')!;
  const bindings = (amqpFeeder.config['bindings'] as string[]).map((b) => uniqueName(b));
  exchanges.push(...bindings);
  queue = uniqueName('er-sample');
  Object.assign(amqpFeeder.config, { url: AMQP_URL, queue_name: queue, bindings });
  const rep = await freePort();
  sample.feeds.feeders.find((f) => f.handler === 'ZMQInput')!.config['uri'] = `tcp://127.0.0.1:${rep}`;
  Object.assign(sample.outputs[0]!.config, { listen_address: '127.0.0.1', port: await freePort() });
  Object.assign(sample.aggregator.config, { listen_address: '127.0.0.1', port: await freePort() });
  database = uniqueName('er_sample').replaceAll('-', '_');
  Object.assign(sample, {
    event_handlers_dir: handlersDir,
    mongodb: { url: await services.mongoUrl(), database },
    redis: { url: await services.redisUrl() },
    router: { replay_bind: `tcp://127.0.0.1:${await freePort()}`, name: queue },
    http: { router: '127.0.0.1:0', sub: '127.0.0.1:0', worker: '127.0.0.1:0', inputs: '127.0.0.1:0' },
    queue: { name: uniqueName('q') },
  });
  configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(sample, null, 2));
  // The publishers (nova, keystone, neutron) declare their exchanges.
  const ch = await amqp.createChannel();
  for (const e of bindings) await ch.assertExchange(e, 'topic', { durable: false });
  await ch.close();
  for (const bin of ['event-router', 'event-sub', 'event-worker', 'event-inputs']) {
    const b = startBin(bin, ['-c', configFile], { REDIS_URL: '', MONGO_URL: '' });
    bins.push(b);
    await b.waitFor(/"msg":"started"/, 30_000);
  }
});

test('EventReactor sample config - an OpenStack notification on RabbitMQ runs a pyfunc handler; its result is in MongoDB', { skip: NOT_BUILT }, async () => {
  const inputs = bins[3]!;
  await inputs.waitFor(/"msg":"consuming"/, 30_000);
  const ch = await amqp!.createChannel();
  const messageId = uniqueName('os');
  const notification = {
    message_id: messageId,
    publisher_id: 'compute.host-1',
    event_type: 'compute.instance.create.end',
    priority: 'INFO',
    payload: { instance_id: 'i-42', state: 'active' },
    timestamp: '2013-05-07 19:54:04.213452',
  };
  ch.publish(exchanges[1]!, 'notifications.info', Buffer.from(JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(notification) })));
  await ch.close();
  mongo = new MongoClient(await services.mongoUrl());
  const db = mongo.db(database);
  const result = await eventually(() => db.collection('results').findOne({ event_id: messageId, status: 'ok' }), 'the pyfunc result', 60_000);
  assert.equal(result['driver'], 'pyfunc');
  assert.equal(result['handler'], 'openstack_events.summarize');
  assert.deepEqual(result['data'], { event_type: 'compute.instance.create.end', namespace: 'openstack', publisher_id: 'compute.host-1', instance_id: 'i-42' });
  assert.match(String(result['stderr']), /Payload ==> /);
  const event = await db.collection('events').findOne({ _id: messageId as never });
  assert.equal(event?.['key'], 'openstack:compute.instance.create.end');
  assert.equal(event?.['timestamp_text'], '2013-05-07 19:54:04.213452');
  // The sample's leftovers are warned about, the AMQPInput is not.
  assert.match(inputs.output(), /"key":"celery"/);
  assert.doesNotMatch(inputs.output(), /feeder "AMQPInput" is not supported/);
  // SIGTERM: each daemon exits cleanly.
  for (const b of [...bins].reverse()) {
    b.child.kill('SIGTERM');
    assert.equal(await b.exited, 0, b.output());
  }
});
