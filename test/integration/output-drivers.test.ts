import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as amqpConnect, type ChannelModel } from 'amqplib';
import { MongoClient } from 'mongodb';
import { WebhookDriver } from '../../src/handlers/webhook-driver.js';
import { AmqpDriver } from '../../src/handlers/amqp-driver.js';
import { HandlerEnvironment } from '../../src/handlers/handler-env.js';
import { runHandler } from '../../src/handlers/run-job.js';
import { buildHandlers } from '../../src/config/handlers-file.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { startRouterDaemon, type RouterDaemon } from '../../src/daemons/router-daemon.js';
import { startSubDaemon, type SubDaemon } from '../../src/daemons/sub-daemon.js';
import { startWorkerDaemon, type WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { silentLogger } from '../../src/logger.js';
import { runContext, sampleEvent } from '../helpers/events.js';
import { AMQP_URL, requireBroker } from '../helpers/brokers.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A local HTTP server that records requests and answers with `reply(n)` for the n-th (1-based). */
async function hookServer(
  reply: (n: number, seen: Seen) => { status: number; body: string; type?: string; delayMs?: number },
): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(s);
      const r = reply(seen.length, s);
      setTimeout(() => {
        res.writeHead(r.status, { 'content-type': r.type ?? 'application/json' });
        res.end(r.body);
      }, r.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const servers: Server[] = [];
let amqp: ChannelModel | undefined;
const drivers: AmqpDriver[] = [];
let cfg: TestConfig | undefined;
let router: RouterDaemon | undefined;
let sub: SubDaemon | undefined;
let worker: WorkerDaemon | undefined;
let mongo: MongoClient | undefined;
after(async () => {
  await worker?.close();
  await sub?.close();
  await router?.close();
  await mongo?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
  await Promise.all(drivers.map((d) => d.close()));
  await amqp?.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});
const services = useServices();

before(async () => {
  await requireBroker('RabbitMQ', AMQP_URL);
  amqp = await amqpConnect(AMQP_URL);
});

/** A secrets directory holding `name` (mode 0600) and the environment that reads it. */
function secretEnvironment(name: string, value: string): HandlerEnvironment {
  const dir = mkdtempSync(join(tmpdir(), 'er-secrets-'));
  writeFileSync(join(dir, name), `${value}\n`);
  chmodSync(join(dir, name), 0o600);
  return new HandlerEnvironment({ PATH: '/usr/bin:/bin' }, dir);
}

function onlySpec(entry: Record<string, unknown>): HandlerSpec {
  return buildHandlers('/h.json', { 'local:zmq.test': [entry] }).table.get('local:zmq.test')![0]!;
}

test('webhook driver - posts a body template with headers from a secret; status and body in the result, the secret masked', async () => {
  const hook = await hookServer((_n, s) => ({ status: 201, body: JSON.stringify({ got: JSON.parse(s.body), auth: s.headers['authorization'] }) }));
  const spec = onlySpec({
    driver: 'webhook',
    handler: `${hook.url}/alerts/{{event.namespace}}`,
    env: { TOKEN: { secret: 'hook-token' } },
    headers: { Authorization: 'Bearer {{env.TOKEN}}', 'X-Kind': '{{event.event_type}}' },
    body: { text: 'disk {{event.payload.disk}} at {{event.payload.used}}%', event: '{{event.id}}', used: '{{event.payload.used}}' },
  });
  const event = sampleEvent({ payload: { disk: '/var', used: 97 } });
  const result = await runHandler(
    { webhook: new WebhookDriver({ outputLimitBytes: 10_000 }) },
    secretEnvironment('hook-token', 's3cret-token'),
    spec,
    event,
    { id: 'j', run: 1 },
    {
      log: silentLogger(),
      signal: new AbortController().signal,
      timeoutMs: 5000,
      attempt: 1,
      fire: runContext().fire,
    },
  );
  assert.equal(result.status, 'ok', result.error);
  assert.equal(result.code, 201);
  const [req] = hook.seen;
  assert.equal(req!.method, 'POST');
  assert.equal(req!.url, '/alerts/local');
  assert.equal(req!.headers['authorization'], 'Bearer s3cret-token');
  assert.equal(req!.headers['x-kind'], 'zmq.test');
  assert.equal(req!.headers['x-event-id'], event.id);
  assert.equal(req!.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(req!.body), { text: 'disk /var at 97%', event: 'evt-1', used: 97 });
  assert.deepEqual(result.data, { status: 201, body: { got: { text: 'disk /var at 97%', event: 'evt-1', used: 97 }, auth: 'Bearer ***' } });
});

test('webhook driver - the default body is the event; a 500 is an error with its status and body; no server is an error; too slow is a timeout', async () => {
  const hook = await hookServer((n) => (n === 1 ? { status: 500, body: 'boom', type: 'text/plain' } : { status: 200, body: 'late', delayMs: 2000 }));
  const driver = new WebhookDriver({ outputLimitBytes: 10_000 });
  const spec = onlySpec({ driver: 'webhook', handler: `${hook.url}/x` });
  const failed = await driver.run(spec, sampleEvent(), runContext());
  assert.equal(failed.status, 'error');
  assert.equal(failed.code, 500);
  assert.match(failed.error!, /HTTP 500/);
  assert.deepEqual(failed.data, { status: 500, body: 'boom' });
  assert.deepEqual(JSON.parse(hook.seen[0]!.body), sampleEvent());
  const slow = await driver.run(spec, sampleEvent(), runContext({ timeoutMs: 300 }));
  assert.equal(slow.status, 'timeout');
  hook.server.close();
  hook.server.closeAllConnections();
  const down = await driver.run(spec, sampleEvent(), runContext());
  assert.equal(down.status, 'error');
  assert.match(down.error!, /webhook request failed/);
  const missing = await driver.run(onlySpec({ driver: 'webhook', handler: `${hook.url}/{{env.NOPE}}` }), sampleEvent(), runContext());
  assert.equal(missing.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(missing.error!, /no variable NOPE/);
});

test('amqp driver - publishes the event to an exchange with the routing key template, confirmed by the broker', async () => {
  const ch = await amqp!.createChannel();
  const exchange = uniqueName('er-out');
  await ch.assertExchange(exchange, 'topic', { durable: false, autoDelete: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, exchange, 'alerts.#');
  const driver = new AmqpDriver();
  drivers.push(driver);
  const spec = onlySpec({ driver: 'amqp', handler: exchange, routing_key: 'alerts.{{event.namespace}}.{{event.event_type}}' });
  const event = sampleEvent({ id: uniqueName('ev') });
  const out = await driver.run(spec, event, runContext({ env: { AMQP_URL } }));
  assert.equal(out.status, 'ok', out.error);
  assert.deepEqual(out.data, { exchange, routing_key: 'alerts.local.zmq.test', bytes: Buffer.byteLength(JSON.stringify(event)) });
  const msg = await eventually(async () => (await ch.get(queue, { noAck: true })) || undefined, 'message in the bound queue', 5000);
  assert.deepEqual(JSON.parse(msg.content.toString()), event);
  assert.equal(msg.properties.messageId, event.id);
  assert.equal(msg.properties.contentType, 'application/json');
  assert.equal(msg.properties.type, 'zmq.test');
  // mandatory, and no queue bound for this key: the run fails.
  const unroutable = await driver.run(
    onlySpec({ driver: 'amqp', handler: exchange, routing_key: 'nobody', mandatory: true }),
    event,
    runContext({ env: { AMQP_URL } }),
  );
  assert.equal(unroutable.status, 'error');
  assert.match(unroutable.error!, /no queue took the message/);
  // A missing exchange fails (the channel is replaced for the next run); exchange_type declares it.
  const missing = uniqueName('er-missing');
  const failed = await driver.run(onlySpec({ driver: 'amqp', handler: missing }), event, runContext({ env: { AMQP_URL } }));
  assert.equal(failed.status, 'error');
  assert.match(failed.error!, /NOT_FOUND|no exchange/i);
  const declared = await driver.run(onlySpec({ driver: 'amqp', handler: missing, exchange_type: 'fanout' }), event, runContext({ env: { AMQP_URL } }));
  assert.equal(declared.status, 'ok', declared.error);
  await ch.deleteExchange(missing);
  await ch.close();
});

test('output drivers - end to end: a webhook retried by its policy until it answers 2xx, and an amqp publish, each result in MongoDB', async () => {
  let calls = 0;
  const hook = await hookServer(() => (++calls < 3 ? { status: 503, body: '{"retry":true}' } : { status: 200, body: '{"ok":true}' }));
  const ch = await amqp!.createChannel();
  const exchange = uniqueName('er-e2e');
  await ch.assertExchange(exchange, 'direct', { durable: false, autoDelete: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, exchange, 'ops.alert');
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:ops.alert': [
        { driver: 'webhook', handler: `${hook.url}/notify`, retries: 3, backoff: 0.05, body: { alert: '{{event.payload}}' } },
        { driver: 'amqp', handler: exchange, env: { AMQP_URL: { secret: 'amqp-url' } } },
      ],
    },
  });
  const secrets = join(cfg.dir, 'secrets');
  mkdirSync(secrets, { mode: 0o700 });
  writeFileSync(join(secrets, 'amqp-url'), AMQP_URL, { mode: 0o600 });
  const log = silentLogger();
  router = await startRouterDaemon(cfg.settings, log);
  sub = await startSubDaemon(cfg.settings, log);
  worker = await startWorkerDaemon(cfg.settings, log);
  mongo = new MongoClient(await services.mongoUrl());
  const db = mongo.db(cfg.database);
  const client = new RouterClient({ uri: router.endpoints.rep[0]!, timeoutMs: 5000 });
  try {
    // PUB/SUB joins asynchronously: fire until one event is archived.
    const event = await eventually(async () => {
      const e = await client.send({ event_type: 'ops.alert', payload: { disk: '/var' } });
      return (await eventually(() => db.collection('events').findOne({ _id: e.id as never }), 'archived', 300).catch(() => null)) ? e : undefined;
    }, 'subscriber to join');
    const results = await eventually(async () => {
      const rs = await db.collection('results').find({ event_id: event.id }).sort({ attempt: 1 }).toArray();
      return rs.filter((r) => r['status'] === 'ok').length === 2 ? rs : undefined;
    }, 'both outputs ok');
    const webhook = results.filter((r) => r['driver'] === 'webhook');
    assert.deepEqual(
      webhook.map((r) => [r['attempt'], r['status'], r['code']]),
      [
        [1, 'error', 503],
        [2, 'error', 503],
        [3, 'ok', 200],
      ],
    );
    assert.deepEqual(webhook[2]!['data'], { status: 200, body: { ok: true } });
    assert.deepEqual(JSON.parse(hook.seen[0]!.body), { alert: { disk: '/var' } });
    const published = results.find((r) => r['driver'] === 'amqp')!;
    assert.equal(published['status'], 'ok');
    const msg = await eventually(async () => (await ch.get(queue, { noAck: true })) || undefined, 'published message', 5000);
    assert.equal(JSON.parse(msg.content.toString()).id, event.id);
  } finally {
    client.close();
    await ch.close();
  }
});
