/**
 * A real router on ephemeral ports under a storm of hostile messages: every REP request
 * gets a reply that matches what parseIncoming says about it, accepted events reach a SUB
 * byte for byte with consecutive seq, and PULL refusals are counted exactly.
 * Set FUZZ_SEED to replay a run (the seed used is printed as a test diagnostic).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import fc from 'fast-check';
import { metricValue } from '../../src/metrics.js';
import { DEFAULT_MAX_EVENT_BYTES, type ReactorEvent } from '../../src/event/event.js';
import { parseIncoming } from '../../src/event/validate.js';
import { EventValidationError } from '../../src/errors.js';
import { startTestRouter, type TestRouter } from '../helpers/router.js';
import { eventually } from '../helpers/config.js';

const SEED = process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : Date.now() % 2 ** 31;
const MAX_BYTES = DEFAULT_MAX_EVENT_BYTES;

const open: { close(): unknown }[] = [];
after(async () => {
  for (const s of open.reverse()) await s.close();
});

async function startRouter(): Promise<TestRouter> {
  const r = await startTestRouter({ maxEventBytes: MAX_BYTES, replayMaxEvents: 10_000, replayMaxBytes: 64 * 1024 * 1024 });
  open.push(r.router);
  return r;
}

function request(uri: string): zmq.Request {
  const req = new zmq.Request({ receiveTimeout: 5000, sendTimeout: 5000, linger: 0 });
  req.connect(uri);
  open.push(req);
  return req;
}

/** One request, one reply frame, parsed. */
async function ask(req: zmq.Request, frames: readonly Buffer[]): Promise<{ text: string; value: Record<string, unknown> }> {
  await req.send(frames.length === 1 ? frames[0]! : [...frames]);
  const reply = await req.receive();
  assert.equal(reply.length, 1, 'reply is one frame');
  const text = reply[0]!.toString('utf8');
  const value: unknown = JSON.parse(text);
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `reply is a JSON object: ${text.slice(0, 100)}`);
  return { text, value: value as Record<string, unknown> };
}

/** PUB/SUB joins asynchronously: send probes until the subscriber sees one; nothing is left unread. */
async function joinedSubscriber(pub: string, req: zmq.Request): Promise<zmq.Subscriber> {
  const sub = new zmq.Subscriber({ receiveTimeout: 100 });
  sub.connect(pub);
  sub.subscribe();
  open.push(sub);
  for (let i = 0; i < 100; i++) {
    const marker = `local:probe.${i}`;
    await ask(req, [Buffer.from(JSON.stringify({ event_type: `probe.${i}` }))]);
    try {
      // Probes are published in order: read until this one, so none is left behind.
      while ((await sub.receive())[0]!.toString() !== marker);
      sub.receiveTimeout = 5000;
      return sub;
    } catch {
      // not joined yet
    }
  }
  throw new Error('subscriber never joined');
}

/** What the router must answer, according to parseIncoming. */
type Verdict = { accepted: true; key: string } | { accepted: false; reason: string };

function verdict(frames: readonly Buffer[], namespace: string): Verdict {
  if (frames.length !== 1) return { accepted: false, reason: 'bad_frames' };
  try {
    const inc = parseIncoming(frames[0]!, namespace, { maxBytes: MAX_BYTES });
    return { accepted: true, key: `${inc.namespace}:${inc.event_type}` };
  } catch (err) {
    assert.ok(err instanceof EventValidationError, `oracle threw ${String(err)}`);
    return { accepted: false, reason: err.reason };
  }
}

// ---------------------------------------------------------------------------------------
// Hostile messages

const b = (s: string): Buffer => Buffer.from(s, 'utf8');
const goodName = fc.stringMatching(/^[a-z][a-z0-9._-]{0,16}$/);
const hostileField = fc.oneof(goodName, fc.jsonValue({ maxDepth: 2 }), fc.constant(''), fc.string({ maxLength: 4 }));
const eventText = fc
  .record(
    {
      event_type: hostileField,
      namespace: hostileField,
      id: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 1 })),
      trace_id: fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 1 })),
      parent_event: fc.jsonValue({ maxDepth: 1 }),
      timestamp: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.jsonValue({ maxDepth: 1 })),
      payload: fc.jsonValue({ maxDepth: 3 }),
      seq: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  )
  .map((e) => b(JSON.stringify(e)));
/** Valid events with random extras, some spelled with whitespace and unicode escapes. */
const goodEventText = fc
  .tuple(
    goodName,
    fc.option(goodName, { nil: undefined }),
    fc.jsonValue({ maxDepth: 3 }),
    fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    fc.boolean(),
  )
  .map(([type, ns, payload, extra, spaced]) => {
    const e: Record<string, unknown> = { ...extra, event_type: type, payload };
    if (ns !== undefined) e['namespace'] = ns;
    const text = JSON.stringify(e, null, spaced ? 1 : undefined);
    return b(spaced ? `\r\n ${text.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}\t` : text);
  });
const protoText = fc
  .constantFrom(
    '{"event_type":"p","__proto__":{"polluted":1}}',
    '{"__proto__":{"event_type":"p"}}',
    '{"event_type":"p","constructor":{"prototype":{"polluted":1}},"epoch":3}',
    '\uFEFF{"event_type":"bom"}',
    '\uFEFF\uFEFF{"event_type":"bom2"}',
    '{"event_type":"a","event_type":"dup"}',
    '{"event_type":"dup","event_type":"a b"}',
    '{"event_type":"a","timestamp":1e400}',
  )
  .map(b);
const singleFrame = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map(b) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map(b) },
  { weight: 5, arbitrary: eventText },
  { weight: 4, arbitrary: goodEventText },
  { weight: 1, arbitrary: protoText },
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
);
const messageArb: fc.Arbitrary<Buffer[]> = fc.oneof(
  { weight: 10, arbitrary: singleFrame.map((f) => [f]) },
  { weight: 2, arbitrary: fc.array(singleFrame, { minLength: 2, maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom<Buffer[]>([Buffer.alloc(0), Buffer.alloc(0)], [b('{"event_type":"a"}'), Buffer.alloc(0)]) },
);

const deep = (n: number, opener: string, closer: string, inner = ''): string => `${opener.repeat(n)}${inner}${closer.repeat(n)}`;

/** Large and deep messages, added to the random ones at fixed positions. */
function specialMessages(): Buffer[][] {
  const head = '{"event_type":"big","payload":"';
  const fill = (total: number): Buffer => b(head + 'x'.repeat(total - head.length - 2) + '"}');
  return [
    [Buffer.alloc(2 * 1024 * 1024, 0x7b)],
    [fill(2 * 1024 * 1024)],
    [fill(MAX_BYTES + 1)],
    [fill(MAX_BYTES)],
    [b(`{"event_type":"deep.array","payload":${deep(10_000, '[', ']')}}`)],
    [b(`{"event_type":"deep.object","payload":${deep(10_000, '{"a":', '}', '1')}}`)],
    [b(deep(100_000, '[', ']'))],
    [b(deep(100_000, '{"a":', '}', '1'))],
    [b(`{"event_type":"deep.cut","payload":${deep(50_000, '[', ']').slice(0, -1)}}`)],
    [fill(2 * 1024 * 1024), fill(2 * 1024 * 1024)],
  ];
}

function storm(count: number, seed: number): Buffer[][] {
  const random = fc.sample(messageArb, { numRuns: count, seed });
  const special = specialMessages();
  const step = Math.floor(random.length / special.length);
  special.forEach((m, i) => random.splice(i * step + 7, 0, m));
  return random;
}

// ---------------------------------------------------------------------------------------

test('fuzz router - every hostile REP request gets the reply parseIncoming predicts; accepted ones reach SUB exactly', async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  const { ep, registry, router } = await startRouter();
  const req = request(ep.rep[0]!);
  const sub = await joinedSubscriber(ep.pub, req);
  const refusedBefore = await metricValue(registry, 'router_events_refused_total');

  const messages = storm(500, SEED);
  const accepted: { key: string; text: string }[] = [];
  const reasons = new Map<string, number>();
  let lastSeq = router.lastSeq;
  for (const [i, frames] of messages.entries()) {
    const want = verdict(frames, 'local');
    const what = `message ${i} (${frames.length} frames, ${frames.map((f) => f.length).join('+')} bytes): ${frames[0]!.subarray(0, 60).toString('utf8')}`;
    const { text, value } = await ask(req, frames);
    if (want.accepted) {
      assert.equal(value['error'], undefined, `${what}: refused with ${text.slice(0, 200)}`);
      const e = value as unknown as ReactorEvent;
      assert.equal(`${e.namespace}:${e.event_type}`, want.key, what);
      assert.equal(e.seq, lastSeq + 1, `${what}: consecutive seq`);
      assert.equal(e.epoch, router.epoch);
      lastSeq = e.seq;
      accepted.push({ key: want.key, text });
    } else {
      const err = value['error'] as { code?: unknown; message?: unknown } | undefined;
      assert.ok(err && typeof err === 'object', `${what}: expected a refusal, got ${text.slice(0, 200)}`);
      assert.equal(err.code, want.reason, what);
      assert.ok(typeof err.message === 'string' && err.message.length > 0, `${what}: refusal has a message`);
      reasons.set(want.reason, (reasons.get(want.reason) ?? 0) + 1);
    }
  }
  t.diagnostic(`${messages.length} requests: ${accepted.length} accepted, refused ${JSON.stringify(Object.fromEntries(reasons))}`);
  assert.ok(accepted.length > 20 && accepted.length < messages.length - 100, 'the storm mixes good and bad');
  for (const reason of ['too_large', 'bad_frames', 'invalid_json', 'bad_encoding', 'not_object', 'missing_event_type']) {
    assert.ok((reasons.get(reason) ?? 0) > 0, `the storm produced ${reason}`);
  }

  // After the storm a good event still succeeds and is published.
  const { text: lastText, value: last } = await ask(req, [b('{"event_type":"after.storm","payload":{"ok":true}}')]);
  assert.equal(last['event_type'], 'after.storm');
  assert.equal(last['seq'], lastSeq + 1);
  accepted.push({ key: 'local:after.storm', text: lastText });

  // SUB saw exactly the accepted events, in order, byte for byte as replied.
  for (const [i, a] of accepted.entries()) {
    const [key, body, ...rest] = await sub.receive();
    assert.equal(rest.length, 0);
    assert.equal(key!.toString(), a.key, `published event ${i}: key`);
    assert.equal(body!.toString('utf8'), a.text, `published event ${i}: body is the REP reply`);
  }
  const refused = (await metricValue(registry, 'router_events_refused_total')) - refusedBefore;
  assert.equal(refused, messages.length - (accepted.length - 1), 'every refusal counted once');
});

test('fuzz router - a PULL blast of 2000 bad messages is counted exactly and the router keeps serving', async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  const { ep, registry } = await startRouter();
  const bad = fc.sample(
    messageArb.filter((m) => !verdict(m, 'feed').accepted),
    { numRuns: 1990, seed: SEED + 1 },
  );
  bad.push(...specialMessages().filter((m) => !verdict(m, 'feed').accepted));
  while (bad.length < 2000) bad.push([Buffer.alloc(0)]);
  bad.length = 2000;
  const want = new Map<string, number>();
  for (const m of bad) {
    const v = verdict(m, 'feed');
    assert.ok(!v.accepted);
    want.set(v.reason, (want.get(v.reason) ?? 0) + 1);
  }

  const push = new zmq.Push({ sendTimeout: 5000, linger: 0 });
  open.push(push);
  push.connect(ep.pull);
  for (const frames of bad) await push.send(frames.length === 1 ? frames[0]! : frames);

  await eventually(async () => (await metricValue(registry, 'router_events_refused_total', { source: 'pull' })) >= 2000, '2000 PULL refusals');
  assert.equal(await metricValue(registry, 'router_events_refused_total', { source: 'pull' }), 2000);
  assert.equal(await metricValue(registry, 'router_events_received_total', { source: 'pull' }), 2000);
  assert.equal(await metricValue(registry, 'router_events_published_total'), 0);
  for (const [reason, n] of want) {
    assert.equal(await metricValue(registry, 'router_events_refused_total', { source: 'pull', reason }), n, `refusals for ${reason}`);
  }
  t.diagnostic(`refused by reason: ${JSON.stringify(Object.fromEntries(want))}`);

  const req = request(ep.rep[0]!);
  const { value } = await ask(req, [b('{"event_type":"after.blast"}')]);
  assert.equal(value['event_type'], 'after.blast');
  assert.equal(value['seq'], 1);
  await push.send('{"event_type":"pulled.after.blast"}');
  await eventually(async () => (await metricValue(registry, 'router_events_published_total')) === 2, 'a good PULL event');
});

test('fuzz router - a refused deep event costs no seq and replay after it stays exact', async () => {
  const { ep } = await startRouter();
  const req = request(ep.rep[0]!);
  const replay = request(ep.replay);
  const send = async (text: string): Promise<Record<string, unknown>> => (await ask(req, [b(text)])).value;
  const a = await send('{"event_type":"before"}');
  // Once accepted, then overflowed JSON.stringify after taking a seq (fixed in 5d17f91).
  const bad = await send(`{"event_type":"deep","seq":0,"payload":${deep(10_000, '[', ']')}}`);
  const b1 = await send('{"event_type":"after.1"}');
  const c = await send('{"event_type":"after.2"}');
  const d = await send('{"event_type":"after.3"}');
  assert.equal((bad['error'] as { code?: string } | undefined)?.code, 'too_deep', JSON.stringify(bad).slice(0, 200));
  assert.deepEqual([a['seq'], b1['seq'], c['seq'], d['seq']], [1, 2, 3, 4], 'seq has no hole');
  // A subscriber that has seen b1 asks for what follows: it must get exactly c and d.
  const { value: rep } = await ask(replay, [b(JSON.stringify({ since: { epoch: a['epoch'], seq: b1['seq'] } }))]);
  const got = (rep['events'] as ReactorEvent[]).map((e) => `${e.event_type}#${e.seq}`);
  assert.deepEqual(got, ['after.2#3', 'after.3#4']);
  assert.equal(rep['missed'], null);
});
