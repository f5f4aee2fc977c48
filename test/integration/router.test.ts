import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as zmq from 'zeromq';
import { metricValue } from '../../src/metrics.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { RouterRefusedError } from '../../src/errors.js';
import type { RouterSettings } from '../../src/config/settings.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';
import { freePort } from '../../src/devstack/free-port.js';
import type { TransportError } from '../../src/errors.js';

const open: { close(): unknown }[] = [];
after(async () => {
  for (const s of open.reverse()) await s.close();
});

async function startRouter(over: Partial<RouterSettings> = {}): Promise<TestRouter> {
  const r = await startTestRouter(over);
  open.push(r.router);
  return r;
}

async function subscriber(uri: string, prefix = ''): Promise<zmq.Subscriber> {
  const sub = new zmq.Subscriber({ receiveTimeout: 5000 });
  sub.connect(uri);
  sub.subscribe(prefix);
  open.push(sub);
  return sub;
}

/** PUB/SUB joins asynchronously: fire probes until the subscriber sees one. */
async function waitJoined(client: RouterClient, sub: zmq.Subscriber, probeType = 'probe'): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await client.send({ event_type: probeType });
    const sock = sub as zmq.Subscriber & { receiveTimeout: number };
    sock.receiveTimeout = 100;
    try {
      await sub.receive();
      sock.receiveTimeout = 5000;
      return;
    } catch {
      // not joined yet
    }
  }
  throw new Error('subscriber never joined');
}

test('router - REP replies with the event as published; SUB gets key and JSON frames', async () => {
  const { ep } = await startRouter();
  const sub = await subscriber(ep.pub, 'local:disk');
  const client = new RouterClient({ uri: ep.rep[0]!, timeoutMs: 5000 });
  open.push(client);
  await waitJoined(client, sub, 'disk.full');
  await client.send({ event_type: 'other' });
  const reply = await client.send({ event_type: 'disk.full', payload: { mount: '/var' }, id: 'client-id-1' });
  assert.equal(reply.id, 'client-id-1');
  assert.equal(reply.namespace, 'local');
  assert.equal(reply.trace_id, 'client-id-1');
  const [key, body] = await sub.receive();
  assert.equal(key!.toString(), 'local:disk.full', 'prefix subscription skipped local:other');
  assert.deepEqual(JSON.parse(body!.toString()), reply);
});

test('router - REP answers every bad request with an error code and message, then still works', async () => {
  const { ep, registry } = await startRouter();
  const client = new RouterClient({ uri: ep.rep[0]!, timeoutMs: 5000 });
  open.push(client);
  const bad: [string, string][] = [
    ['not json', 'invalid_json'],
    ['[]', 'not_object'],
    ['{"payload":1}', 'missing_event_type'],
    ['{"event_type":{}}', 'bad_event_type'],
    ['{"event_type":"a","namespace":""}', 'bad_namespace'],
    [JSON.stringify({ event_type: 'big', payload: 'x'.repeat(5000) }), 'too_large'],
  ];
  for (const [text, code] of bad) {
    await assert.rejects(client.send(text), (err: unknown) => err instanceof RouterRefusedError && err.reason === code && err.message.length > 5, code);
  }
  const ok = await client.send({ event_type: 'after.bad' });
  assert.equal(ok.event_type, 'after.bad');
  assert.equal(await metricValue(registry, 'router_events_refused_total', { source: 'rep' }), bad.length);
  assert.equal(await metricValue(registry, 'router_events_refused_total', { reason: 'too_large' }), 1);
});

test('router - a multi-frame REP request is refused, not wedged', async () => {
  const { ep } = await startRouter();
  const req = new zmq.Request({ receiveTimeout: 5000 });
  open.push(req);
  req.connect(ep.rep[0]!);
  await req.send(['{"event_type":"a"}', 'extra']);
  const [reply] = await req.receive();
  assert.equal(JSON.parse(reply!.toString()).error.code, 'bad_frames');
});

test('router - PULL refusals are counted; good PULL events get the feeder namespace and consecutive seq', async () => {
  const { ep, registry, router } = await startRouter();
  const sub = await subscriber(ep.pub);
  const client = new RouterClient({ uri: ep.rep[0]!, timeoutMs: 5000 });
  open.push(client);
  await waitJoined(client, sub);
  const push = new zmq.Push();
  open.push(push);
  push.connect(ep.pull);
  await push.send('garbage');
  await push.send('{"event_type":"pulled.one"}');
  await push.send(new Uint8Array([0xc3, 0x28]));
  await push.send('{"event_type":"pulled.two"}');
  const [, b1] = await sub.receive();
  const [, b2] = await sub.receive();
  const e1 = JSON.parse(b1!.toString());
  const e2 = JSON.parse(b2!.toString());
  assert.equal(e1.namespace, 'feed');
  assert.equal(e2.seq, e1.seq + 1);
  assert.equal(e2.epoch, router.epoch);
  assert.equal(await metricValue(registry, 'router_events_refused_total', { source: 'pull', reason: 'invalid_json' }), 1);
  assert.equal(await metricValue(registry, 'router_events_refused_total', { source: 'pull', reason: 'bad_encoding' }), 1);
});

test('router - legacy framing publishes one JSON frame', async () => {
  const { ep } = await startRouter({ framing: 'legacy' });
  const sub = await subscriber(ep.pub);
  const client = new RouterClient({ uri: ep.rep[0]!, timeoutMs: 5000 });
  open.push(client);
  await waitJoined(client, sub);
  const reply = await client.send({ event_type: 'legacy.one' });
  const frames = await sub.receive();
  assert.equal(frames.length, 1);
  assert.deepEqual(JSON.parse(frames[0]!.toString()), reply);
});

test('router - close is idempotent and the client reports a dead router after its timeout', async () => {
  const { router, ep } = await startRouter();
  await Promise.all([router.close(), router.close()]);
  const client = new RouterClient({ uri: ep.rep[0]!, timeoutMs: 200, retries: 1 });
  open.push(client);
  await assert.rejects(client.send({ event_type: 'x' }), /no reply from the router .* within 200 ms \(2 tries\)/);
});

test('router - a port in use is refused at once, naming the socket and the address', async () => {
  const port = await freePort();
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
  try {
    await assert.rejects(startTestRouter({ pubBind: `tcp://127.0.0.1:${port}` }), (err: Error) => {
      assert.equal((err as TransportError).code, 'ERR_TRANSPORT');
      assert.match(err.message, new RegExp(`cannot bind the router's PUB socket to tcp://127\\.0\\.0\\.1:${port}: .*in use`, 'i'));
      return true;
    });
  } finally {
    await new Promise<void>((resolve) => holder.close(() => resolve()));
  }
});

test('router - a frame over twice max_event_bytes is refused by ZeroMQ itself: the connection is dropped, the router holds nothing', async () => {
  const { ep, registry } = await startRouter();
  const req = new zmq.Request({ receiveTimeout: 1500, linger: 0 });
  open.push(req);
  req.connect(ep.rep[0]!);
  await req.send(JSON.stringify({ event_type: 'huge', payload: 'x'.repeat(4096 * 3) }));
  await assert.rejects(req.receive(), /timed out|EAGAIN|Socket timed out/i);
  assert.equal(await metricValue(registry, 'router_events_received_total', { source: 'rep' }), 0, 'the router never saw the frame');
  const client = new RouterClient({ uri: ep.rep[0]!, timeoutMs: 5000 });
  open.push(client);
  assert.equal((await client.send({ event_type: 'still.fine' })).event_type, 'still.fine');
});
