/**
 * Forwarded events per second of each input against a bare baseline in the same run:
 *
 *   node --import tsx bench/inputs-throughput.ts
 *
 * A router in this process (in-memory stores are not involved: the router alone), then:
 * - baseline: RouterClient REQ round trips, 1 socket, and 4 sockets side by side (what
 *   the inputs' forwarder uses);
 * - AMQPInput: messages published to RabbitMQ (`AMQP_URL`), counted once the router
 *   published them (prefetch 32); baseline: a bare amqplib consumer acknowledging each
 *   message at once, same prefetch;
 * - HTTPInput: `POST /events` from 16 concurrent fetch loops; baseline: a bare node:http
 *   server answering 202 at once;
 * - MQTTInput: QoS 1 messages published to Mosquitto (`MQTT_URL`) in windows of 500 (a
 *   Mosquitto drops what it queues for a client beyond `max_queued_messages`, 1000 by
 *   default); baseline: a bare mqtt.js client acknowledging at once.
 * `BENCH_INPUT_EVENTS` (default 5000) per measurement. Prints one line per measurement
 * and a final JSON line.
 */
import { connect as amqpConnect } from 'amqplib';
import { connectAsync } from 'mqtt';
import { Router } from '../src/router/router.js';
import { createRegistry } from '../src/metrics.js';
import { silentLogger } from '../src/logger.js';
import { RouterClient } from '../src/wire/router-client.js';
import { Forwarder } from '../src/inputs/forwarder.js';
import { InputMetrics, InputPipe, type Input } from '../src/inputs/input.js';
import { createInput } from '../src/inputs/create-input.js';
import { buildSettings } from '../src/config/load.js';
import type { ReactorSettings } from '../src/config/settings.js';

const N = Number(process.env['BENCH_INPUT_EVENTS'] ?? 5000);
const AMQP_URL = process.env['AMQP_URL'] || 'amqp://guest:guest@127.0.0.1:5672';
const MQTT_URL = process.env['MQTT_URL'] || 'mqtt://127.0.0.1:1883';
const tag = `bench-${Date.now().toString(36)}`;
const log = silentLogger();

const router = new Router({
  settings: {
    pullBind: 'tcp://127.0.0.1:*',
    pullNamespace: 'bench',
    rep: [{ bind: 'tcp://127.0.0.1:*', namespace: 'bench' }],
    pubBind: 'tcp://127.0.0.1:*',
    framing: 'multipart',
    pubHighWaterMark: 100_000,
    maxHops: 8,
    maxEventBytes: 1024 * 1024,
    refusalLogIntervalMs: 5000,
    replayBind: 'tcp://127.0.0.1:*',
    replayMaxEvents: 200_000,
    replayMaxBytes: 256 * 1024 * 1024,
    journal: 'memory',
    name: 'test',
  },
  log,
  registry: createRegistry('router'),
});
const ep = await router.start();
const rep = ep.rep[0]!;
const results: Record<string, number> = {};

function report(name: string, ms: number): void {
  const rate = Math.round((N / ms) * 1000);
  results[name] = rate;
  process.stdout.write(`${name.padEnd(28)} ${String(rate).padStart(7)} events/s  (${N} in ${Math.round(ms)} ms)\n`);
}

async function untilPublished(target: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (router.lastSeq < target) {
    if (Date.now() > deadline) throw new Error(`only ${router.lastSeq} of ${target} published`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const payload = { host: 'bench', value: 42, text: 'x'.repeat(200) };

// Baselines.
{
  const c = new RouterClient({ uri: rep, timeoutMs: 5000 });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await c.send({ event_type: 'bench.base', payload });
  report('baseline REQ, 1 socket', performance.now() - t0);
  c.close();
  const cs = Array.from({ length: 4 }, () => new RouterClient({ uri: rep, timeoutMs: 5000 }));
  const t1 = performance.now();
  await Promise.all(
    cs.map(async (client, k) => {
      for (let i = k; i < N; i += 4) await client.send({ event_type: 'bench.base', payload });
    }),
  );
  report('baseline REQ, 4 sockets', performance.now() - t1);
  for (const client of cs) client.close();
}

/** Start one input of `feeder` against the router. */
async function startInput(feeder: Record<string, unknown>): Promise<{ input: Input; forwarder: Forwarder }> {
  const raw = { feeds: { feeders: [{ handler: 'ZMQInput', config: { uri: rep } }, feeder] }, http: { inputs: '127.0.0.1:0' } };
  const settings: ReactorSettings = buildSettings('/tmp/bench-config.json', raw, {}, {}).settings;
  const spec = settings.inputs.list[0]!;
  const forwarder = new Forwarder({ uri: rep, timeoutMs: 5000, maxEventBytes: 1024 * 1024, log });
  const pipe = new InputPipe(spec.name, spec.namespace, forwarder, new InputMetrics(createRegistry('inputs')), log);
  const input = await createInput(spec, { name: spec.name, namespace: spec.namespace, settings, log, pipe });
  await input.start();
  for (;;) {
    try {
      await input.ready();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { input, forwarder };
}

// AMQP.
{
  const conn = await amqpConnect(AMQP_URL);
  const ch = await conn.createChannel();
  const exchange = `${tag}-x`;
  const queue = `${tag}-q`;
  await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
  {
    const bq = `${tag}-bare`;
    await ch.assertQueue(bq, { durable: false });
    await ch.bindQueue(bq, exchange, 'bare');
    const cch = await conn.createChannel();
    await cch.prefetch(32);
    let got = 0;
    let done: () => void = () => undefined;
    const all = new Promise<void>((r) => (done = r));
    await cch.consume(bq, (m) => {
      if (!m) return;
      cch.ack(m);
      if (++got === N) done();
    });
    const body = Buffer.from(JSON.stringify({ event_type: 'bench.amqp', payload }));
    const t0 = performance.now();
    for (let i = 0; i < N; i++) if (!ch.publish(exchange, 'bare', body)) await new Promise((r) => ch.once('drain', r));
    await all;
    report('bare amqplib consumer', performance.now() - t0);
    await cch.close();
    await ch.deleteQueue(bq);
  }
  const { input, forwarder } = await startInput({
    handler: 'AMQPInput',
    config: { url: AMQP_URL, routing_key: 'bench', queue_name: queue, bindings: [exchange], durable: false },
  });
  const start = router.lastSeq;
  const body = Buffer.from(JSON.stringify({ event_type: 'bench.amqp', payload }));
  const t0 = performance.now();
  for (let i = 0; i < N; i++) if (!ch.publish(exchange, 'bench', body)) await new Promise((r) => ch.once('drain', r));
  await untilPublished(start + N);
  report('AMQPInput (prefetch 32)', performance.now() - t0);
  await input.close();
  forwarder.close();
  await ch.deleteQueue(queue);
  await ch.deleteExchange(exchange);
  await conn.close();
}

// HTTP.
{
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const bare = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
  let n = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (n < N) {
        n++;
        const res = await fetch(bare, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"event_type":"x"}' });
        await res.arrayBuffer();
      }
    }),
  );
  report('bare node:http server', performance.now() - t0);
  server.closeAllConnections();
  server.close();
}
{
  const { input, forwarder } = await startInput({ handler: 'HTTPInput', config: { listen: '127.0.0.1:0', max_in_flight: 256 } });
  const url = `${(input as unknown as { url: string }).url}/events`;
  const body = JSON.stringify({ event_type: 'bench.http', payload });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < N) {
        next++;
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        if (res.status !== 202) throw new Error(`HTTP ${res.status}`);
        await res.arrayBuffer();
      }
    }),
  );
  report('HTTPInput (16 clients)', performance.now() - t0);
  await input.close();
  forwarder.close();
}

// MQTT.
{
  const topic = `${tag}/m`;
  const pub = await connectAsync(MQTT_URL, { clientId: `${tag}-pub` });
  const body = JSON.stringify(payload);
  const WINDOW = 500;
  {
    const bare = await connectAsync(MQTT_URL, { clientId: `${tag}-bare`, clean: true });
    let got = 0;
    bare.handleMessage = (_p, done) => {
      got++;
      done();
    };
    await bare.subscribeAsync(`${tag}-bare/#`, { qos: 1 });
    const t0 = performance.now();
    for (let sent = 0; sent < N; sent += WINDOW) {
      await Promise.all(Array.from({ length: Math.min(WINDOW, N - sent) }, () => pub.publishAsync(`${tag}-bare/m`, body, { qos: 1 })));
      while (got < sent + Math.min(WINDOW, N - sent)) await new Promise((r) => setTimeout(r, 2));
    }
    report('bare mqtt.js subscriber', performance.now() - t0);
    await bare.endAsync();
  }
  const { input, forwarder } = await startInput({ handler: 'MQTTInput', config: { url: MQTT_URL, topics: [`${tag}/#`], qos: 1, client_id: `${tag}-in` } });
  const start = router.lastSeq;
  const t0 = performance.now();
  for (let sent = 0; sent < N; sent += WINDOW) {
    const k = Math.min(WINDOW, N - sent);
    await Promise.all(Array.from({ length: k }, () => pub.publishAsync(topic, body, { qos: 1 })));
    await untilPublished(start + sent + k);
  }
  report('MQTTInput (QoS 1)', performance.now() - t0);
  await input.close();
  forwarder.close();
  await pub.endAsync();
  // Drop the persistent session.
  await (await connectAsync(MQTT_URL, { clientId: `${tag}-in`, clean: true })).endAsync();
}

await router.close();
process.stdout.write(`${JSON.stringify({ bench: 'inputs-throughput', events: N, events_per_s: results })}\n`);
