import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import { metricValue } from '../../src/metrics.js';
import { MQTT_URL, requireBroker } from '../helpers/brokers.js';
import { inputsStack, type InputsStack } from '../helpers/inputs.js';
import { uniqueName, useServices } from '../helpers/services.js';
import { eventually } from '../helpers/config.js';

const run = promisify(execFile);
const stacks: InputsStack[] = [];
let publisher: MqttClient | undefined;
after(async () => {
  for (const s of stacks) await s.close();
  await publisher?.endAsync();
});
const services = useServices();

before(async () => {
  await requireBroker('Mosquitto', MQTT_URL);
  publisher = await connectAsync(MQTT_URL, { clientId: uniqueName('er-test-pub'), connectTimeout: 5000, reconnectPeriod: 0 });
});

async function stack(prefix: string, extra: Record<string, unknown> = {}): Promise<{ s: InputsStack; name: string }> {
  const name = uniqueName('mqtt');
  const s = await inputsStack({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    feeders: [{ handler: 'MQTTInput', name, namespace: 'iot', config: { url: MQTT_URL, topics: [`${prefix}/#`], qos: 1, keepalive: 5, ...extra } }],
  });
  stacks.push(s);
  await ready(s);
  return { s, name };
}

function ready(s: InputsStack): Promise<boolean> {
  return eventually(async () => {
    try {
      await s.inputs!.inputs[0]!.ready();
      return true;
    } catch {
      return false;
    }
  }, 'the MQTT input to subscribe');
}

test('MQTT input - mosquitto_pub QoS 1: event_type from the topic, payload the JSON body (else its text)', async () => {
  const prefix = uniqueName('sensors');
  const { s, name } = await stack(prefix);
  const url = new URL(MQTT_URL);
  const pub = (topic: string, message: string) => run('mosquitto_pub', ['-h', url.hostname, '-p', url.port || '1883', '-q', '1', '-t', topic, '-m', message]);
  await pub(`${prefix}/room1/temp`, '{"celsius": 21.5}');
  await pub(`${prefix}/room1/door`, 'open');
  const [temp] = await s.waitFor((e) => e.event_type === `${prefix}.room1.temp`);
  assert.equal(temp!.namespace, 'iot');
  assert.deepEqual(temp!.payload, { celsius: 21.5 });
  assert.equal(temp!['topic'], `${prefix}/room1/temp`);
  const [door] = await s.waitFor((e) => e.event_type === `${prefix}.room1.door`);
  assert.equal(door!.payload, 'open');
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_forwarded_total', { input: name }), 2);
});

test('MQTT input - a message the router would refuse is acknowledged and counted, the next one goes through', async () => {
  const prefix = uniqueName('refuse');
  const { s, name } = await stack(prefix);
  await publisher!.publishAsync(`${prefix}/has space`, '1', { qos: 1 });
  await publisher!.publishAsync(`${prefix}/fine`, '2', { qos: 1 });
  await s.waitFor((e) => e.event_type === `${prefix}.fine`);
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_refused_total', { input: name, reason: 'bad_event_type' }), 1);
});

test('MQTT input - router down: no PUBACK before the router replied; stopped then, the broker redelivers every message to the next start', async () => {
  const prefix = uniqueName('down');
  const { s, name } = await stack(prefix);
  await s.stopRouter();
  const n = 5;
  for (let i = 0; i < n; i++) await publisher!.publishAsync(`${prefix}/m`, JSON.stringify({ i }), { qos: 1 });
  await eventually(async () => (await metricValue(s.inputs!.registry, 'inputs_events_received_total', { input: name })) >= 1, 'first message taken');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_received_total', { input: name }), 1, 'one message at a time: the rest wait at the broker');
  assert.equal(await metricValue(s.inputs!.registry, 'inputs_events_forwarded_total', { input: name }), 0);
  await s.stopInputs();
  await s.startRouter();
  await s.startInputs();
  const got = await s.waitFor((e) => e.event_type === `${prefix}.m`, n, 30_000);
  assert.deepEqual(new Set(got.map((e) => (e.payload as { i: number }).i)), new Set([0, 1, 2, 3, 4]));
});

test('MQTT input - router down while running: messages wait, then all arrive in order once it is back', async () => {
  const prefix = uniqueName('wait');
  const { s } = await stack(prefix);
  await s.stopRouter();
  for (let i = 0; i < 4; i++) await publisher!.publishAsync(`${prefix}/m`, JSON.stringify({ i }), { qos: 1 });
  await new Promise((r) => setTimeout(r, 1500));
  await s.startRouter();
  const got = await s.waitFor((e) => e.event_type === `${prefix}.m`, 4, 30_000);
  const order = got.map((e) => (e.payload as { i: number }).i);
  assert.deepEqual([...new Set(order)], [0, 1, 2, 3]);
});
