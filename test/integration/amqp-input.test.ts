import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { metricValue } from '../../src/metrics.js';
import { AMQP_URL, requireBroker } from '../helpers/brokers.js';
import { inputsStack, type InputsStack } from '../helpers/inputs.js';
import { uniqueName, useServices } from '../helpers/services.js';
import { eventually } from '../helpers/config.js';

const stacks: InputsStack[] = [];
let amqp: ChannelModel | undefined;
let ch: Channel;
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const s of stacks) await s.close();
  for (const c of cleanup) await c().catch(() => undefined);
  await amqp?.close();
});
const services = useServices();

before(async () => {
  await requireBroker('RabbitMQ', AMQP_URL);
  amqp = await connect(AMQP_URL);
  ch = await amqp.createChannel();
});

/** Exchanges as OpenStack's services declare them, a queue name, and the dead-letter queue when asked. */
async function topology(o: { dlx?: boolean } = {}): Promise<{ exchanges: string[]; queue: string; dlx?: string; dlq?: string }> {
  const exchanges = [uniqueName('nova'), uniqueName('neutron')];
  for (const e of exchanges) {
    await ch.assertExchange(e, 'topic', { durable: false });
    cleanup.push(() => ch.deleteExchange(e));
  }
  const queue = uniqueName('er-notifications');
  cleanup.push(() => ch.deleteQueue(queue));
  if (!o.dlx) return { exchanges, queue };
  const dlx = uniqueName('er-dlx');
  await ch.assertExchange(dlx, 'fanout', { durable: false });
  const { queue: dlq } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(dlq, dlx, '');
  cleanup.push(() => ch.deleteExchange(dlx));
  return { exchanges, queue, dlx, dlq };
}

function feeder(t: { exchanges: string[]; queue: string; dlx?: string }, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    handler: 'AMQPInput',
    name: uniqueName('amqp'),
    namespace: 'cloud',
    config: {
      url: AMQP_URL,
      routing_key: 'notifications.info',
      exchange_type: 'topic',
      queue_name: t.queue,
      bindings: t.exchanges,
      ...(t.dlx ? { dead_letter_exchange: t.dlx } : {}),
      ...extra,
    },
  };
}

async function stack(feeders: unknown[]): Promise<InputsStack> {
  const s = await inputsStack({ redisUrl: await services.redisUrl(), mongoUrl: await services.mongoUrl(), feeders });
  stacks.push(s);
  await eventually(async () => {
    try {
      await s.inputs!.inputs[0]!.ready();
      return true;
    } catch {
      return false;
    }
  }, 'the AMQP input to consume');
  return s;
}

const publish = (exchange: string, body: string | Buffer, props: Record<string, unknown> = {}): boolean =>
  ch.publish(exchange, 'notifications.info', typeof body === 'string' ? Buffer.from(body) : body, props);

const notification = (id: string, extra: Record<string, unknown> = {}) => ({
  message_id: id,
  publisher_id: 'compute.host-1',
  event_type: 'compute.instance.create.end',
  priority: 'INFO',
  payload: { instance_id: 'i-1' },
  timestamp: '2013-05-07 19:54:04.213452',
  ...extra,
});

test('AMQP input - OpenStack notifications (bare and in an oslo envelope), events and other JSON, from every bound exchange', async () => {
  const t = await topology({ dlx: true });
  const s = await stack([feeder(t)]);
  const [nova, neutron] = t.exchanges as [string, string];
  const bare = uniqueName('msg');
  const wrapped = uniqueName('msg');
  publish(nova, JSON.stringify(notification(bare)));
  publish(neutron, JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(notification(wrapped, { event_type: 'port.create.end' })) }));
  publish(nova, JSON.stringify({ event_type: 'ops.ready', payload: { a: 1 }, namespace: 'ops' }));
  publish(nova, JSON.stringify([1, 2, 3]), { messageId: 'amqp-prop-id' });
  const [e1] = await s.waitFor((e) => e.id === bare);
  assert.equal(e1!.event_type, 'compute.instance.create.end');
  assert.equal(e1!.namespace, 'cloud');
  assert.equal(e1!['publisher_id'], 'compute.host-1');
  assert.equal(e1!['priority'], 'INFO');
  assert.equal(e1!['message_id'], bare);
  assert.deepEqual(e1!.payload, { instance_id: 'i-1' });
  assert.equal(e1!.timestamp, Date.UTC(2013, 4, 7, 19, 54, 4) / 1000 + 0.213452);
  assert.equal(e1!['timestamp_text'], '2013-05-07 19:54:04.213452');
  const [e2] = await s.waitFor((e) => e.id === wrapped);
  assert.equal(e2!.event_type, 'port.create.end');
  assert.equal(e2!['oslo.message'], undefined);
  const [e3] = await s.waitFor((e) => e.event_type === 'ops.ready');
  assert.equal(e3!.namespace, 'ops');
  assert.deepEqual(e3!.payload, { a: 1 });
  const [e4] = await s.waitFor((e) => e.id === 'amqp-prop-id');
  assert.equal(e4!.event_type, 'notifications.info');
  assert.deepEqual(e4!.payload, [1, 2, 3]);
  const name = s.settings.inputs.list[0]!.name;
  await eventually(async () => (await metricValue(s.inputs!.registry, 'inputs_events_forwarded_total', { input: name })) === 4, 'forwarded counted');
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_received_total', { input: name }), 4);
  // Every message acknowledged: the queue is empty.
  await eventually(async () => (await ch.checkQueue(t.queue)).messageCount === 0, 'queue drained');
});

test('AMQP input - a body that is not JSON (or an envelope that is not) goes to the dead-letter exchange with its reason, and is counted', async () => {
  const t = await topology({ dlx: true });
  const s = await stack([feeder(t)]);
  publish(t.exchanges[0]!, 'this is not json');
  publish(t.exchanges[0]!, JSON.stringify({ 'oslo.version': '2.0', 'oslo.message': '{broken' }));
  publish(t.exchanges[0]!, Buffer.from([0xff, 0xfe, 0x00]));
  const dead = [];
  while (dead.length < 3) {
    const m = await eventually(async () => (await ch.get(t.dlq!, { noAck: true })) || undefined, 'dead letter');
    dead.push(m);
  }
  assert.deepEqual(dead.map((m) => m.content.toString('latin1')).slice(0, 1), ['this is not json']);
  assert.deepEqual(
    dead.map((m) => (m.properties.headers as Record<string, unknown>)['x-refused-reason']),
    ['invalid_json', 'invalid_json', 'bad_encoding'],
  );
  const name = s.settings.inputs.list[0]!.name;
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_refused_total', { input: name, reason: 'invalid_json' }), 2);
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_refused_total', { input: name, reason: 'bad_encoding' }), 1);
  await eventually(async () => (await ch.checkQueue(t.queue)).messageCount === 0, 'refused messages acknowledged');
  assert.equal(s.published.filter((e) => e.event_type !== 'test.probe').length, 0);
});

test('AMQP input - without a dead-letter exchange a bad body is rejected without requeue; an event the router refuses too', async () => {
  const t = await topology();
  const s = await stack([feeder(t)]);
  publish(t.exchanges[0]!, 'nope');
  publish(t.exchanges[0]!, JSON.stringify({ event_type: 'x', payload: 'y'.repeat(2_000_000) }));
  publish(t.exchanges[0]!, JSON.stringify({ event_type: 'after.bad' }));
  await s.waitFor((e) => e.event_type === 'after.bad');
  const name = s.settings.inputs.list[0]!.name;
  await eventually(async () => (await metricValue(s.inputs!.registry, 'inputs_events_refused_total', { input: name })) === 2, 'refusals counted');
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_refused_total', { input: name, reason: 'too_large' }), 1);
  await eventually(async () => (await ch.checkQueue(t.queue)).messageCount === 0, 'queue empty');
});

test('AMQP input - router down: nothing is acknowledged, the broker keeps every message, and all arrive once the router is back', async () => {
  const t = await topology();
  const f = feeder(t, { prefetch: 4 });
  const s = await stack([f]);
  await s.stopRouter();
  const ids = Array.from({ length: 10 }, () => uniqueName('down'));
  for (const id of ids) publish(t.exchanges[0]!, JSON.stringify(notification(id)));
  const name = s.settings.inputs.list[0]!.name;
  // The input takes its prefetch window, forwards nothing, acknowledges nothing.
  await eventually(async () => (await metricValue(s.inputs!.registry, 'inputs_events_received_total', { input: name })) === 4, 'prefetch window taken');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_received_total', { input: name }), 4, 'no more than the prefetch window taken');
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_forwarded_total', { input: name }), 0);
  await eventually(async () => {
    try {
      s.inputs!.forwarder.check();
      return false;
    } catch (err) {
      return /not answering/.test((err as Error).message);
    }
  }, '/readyz to say the router is not answering');
  // Stopped while the router is down: every message is still in the queue.
  await s.stopInputs();
  await eventually(async () => (await ch.checkQueue(t.queue)).messageCount === 10, 'all 10 back in the queue');
  await s.startRouter();
  await s.startInputs();
  const got = await s.waitFor((e) => ids.includes(e.id), 10);
  assert.deepEqual(new Set(got.map((e) => e.id)), new Set(ids));
  await eventually(async () => (await ch.checkQueue(t.queue)).messageCount === 0, 'queue drained');
});

test('AMQP input - router down while the input runs: messages wait, then flow when it comes back, none lost', async () => {
  const t = await topology();
  const s = await stack([feeder(t, { prefetch: 2 })]);
  await s.stopRouter();
  const ids = Array.from({ length: 6 }, () => uniqueName('wait'));
  for (const id of ids) publish(t.exchanges[0]!, JSON.stringify(notification(id)));
  await new Promise((r) => setTimeout(r, 1500));
  await s.startRouter();
  const got = await s.waitFor((e) => ids.includes(e.id), 6, 30_000);
  assert.equal(new Set(got.map((e) => e.id)).size, 6);
  await eventually(async () => (await ch.checkQueue(t.queue)).messageCount === 0, 'queue drained');
});

test('AMQP input - a binding exchange that does not exist is waited for (not ready, saying which), never declared', async () => {
  const t = await topology();
  const missing = uniqueName('keystone');
  const s = await inputsStack({ redisUrl: await services.redisUrl(), mongoUrl: await services.mongoUrl(), feeders: [feeder({ ...t, exchanges: [missing] })] });
  stacks.push(s);
  await eventually(async () => {
    try {
      await s.inputs!.inputs[0]!.ready();
      return false;
    } catch (err) {
      return /exchange ".*keystone.*" does not exist/.test((err as Error).message);
    }
  }, 'not ready naming the exchange');
  const probe = await amqp!.createChannel();
  probe.on('error', () => undefined);
  await assert.rejects(probe.checkExchange(missing));
});
