import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventStamper } from '../../src/router/stamper.js';
import { parseIncoming, parsePublished } from '../../src/event/validate.js';
import { eventKey } from '../../src/event/event.js';
import { EventValidationError } from '../../src/errors.js';

const limits = { maxBytes: 1024 };
// A 63-level payload (64 with the event) is still accepted.
const deepest = `{"event_type":"a","payload":${'['.repeat(63)}${']'.repeat(63)}}`;
const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');

function refusal(raw: Uint8Array | string): string {
  try {
    parseIncoming(typeof raw === 'string' ? enc(raw) : raw, 'local', limits);
  } catch (err) {
    assert.ok(err instanceof EventValidationError);
    assert.ok(err.message.length > 10, 'message says what is wrong');
    return err.reason;
  }
  assert.fail('expected a refusal');
}

test('event - refuses each kind of bad input with its reason', () => {
  assert.equal(refusal('x'.repeat(2000)), 'too_large');
  assert.equal(refusal(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), 'bad_encoding');
  assert.equal(refusal('{"event_type": "a",'), 'invalid_json');
  assert.equal(refusal('[1,2]'), 'not_object');
  assert.equal(refusal('null'), 'not_object');
  assert.equal(refusal('"text"'), 'not_object');
  assert.equal(refusal('{"payload": {}}'), 'missing_event_type');
  assert.equal(refusal('{"event_type": 5}'), 'bad_event_type');
  assert.equal(refusal('{"event_type": ""}'), 'bad_event_type');
  assert.equal(refusal('{"event_type": "a b"}'), 'bad_event_type');
  assert.equal(refusal('{"event_type": "a", "namespace": "x:y"}'), 'bad_namespace');
  assert.equal(refusal('{"event_type": "a", "namespace": 7}'), 'bad_namespace');
  assert.equal(refusal('{"event_type": "a", "id": ""}'), 'bad_id');
  assert.equal(refusal(`{"event_type": "a", "id": "${'i'.repeat(129)}"}`), 'bad_id');
  assert.equal(refusal('{"event_type": "a", "id": 12}'), 'bad_id');
  assert.equal(refusal('{"event_type": "a", "trace_id": []}'), 'bad_trace_id');
  assert.equal(refusal('{"event_type": "a", "timestamp": "now"}'), 'bad_timestamp');
  assert.equal(refusal('{"event_type": "a", "timestamp": -1}'), 'bad_timestamp');
  assert.equal(refusal(`{"event_type": "a", "payload": ${'['.repeat(70)}${']'.repeat(70)}}`), 'too_deep');
});

test('event - nesting up to the limit is accepted', () => {
  assert.equal(parseIncoming(enc(deepest), 'local', limits).event_type, 'a');
});

test('event - missing event_type message names the field', () => {
  assert.throws(() => parseIncoming(enc('{}'), 'local', limits), /"event_type"/);
});

test('event - stamps id, namespace, payload, timestamp, trace id, seq and epoch', () => {
  const stamper = new EventStamper(1000);
  const a = stamper.stamp(parseIncoming(enc('{"event_type":"disk.full"}'), 'local', limits), 5_000_000);
  const b = stamper.stamp(parseIncoming(enc('{"event_type":"disk.full","namespace":"ops"}'), 'local', limits), 5_000_001);
  assert.equal(a.event.namespace, 'local');
  assert.equal(b.event.namespace, 'ops');
  assert.deepEqual(a.event.payload, {});
  assert.equal(a.event.timestamp, 5000);
  assert.equal(a.event.trace_id, a.event.id);
  assert.equal(a.event.seq, 1);
  assert.equal(b.event.seq, 2);
  assert.equal(a.event.epoch, 1000);
  assert.match(a.event.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.ok(a.event.id < b.event.id, 'ids sort by time');
  assert.equal(stamper.lastSeq, 2);
  assert.equal(eventKey(b.event), 'ops:disk.full');
});

test('event - published JSON equals the stamped event and keeps client fields', () => {
  const stamper = new EventStamper(7);
  const text = ' {"event_type":"t","id":"client-1","trace_id":"tr","payload":{"cmd":"rm -rf / ; $(x) `y`"},"extra":[1,2]} ';
  const { event, json } = stamper.stamp(parseIncoming(enc(text), 'local', limits));
  const parsed = JSON.parse(json);
  assert.deepEqual(parsed, JSON.parse(JSON.stringify(event)));
  assert.equal(parsed.id, 'client-1');
  assert.equal(parsed.trace_id, 'tr');
  assert.deepEqual(parsed.extra, [1, 2]);
  assert.equal(parsed.payload.cmd, 'rm -rf / ; $(x) `y`');
});

test('event - a client seq or epoch is replaced, never duplicated', () => {
  const stamper = new EventStamper(42);
  const { json } = stamper.stamp(parseIncoming(enc('{"event_type":"t","seq":999,"epoch":1}'), 'local', limits));
  assert.equal((json.match(/"seq"/g) ?? []).length, 1);
  const parsed = JSON.parse(json);
  assert.equal(parsed.seq, 1);
  assert.equal(parsed.epoch, 42);
});

test('event - __proto__ keys stay data and never change prototypes', () => {
  const stamper = new EventStamper(1);
  const { event, json } = stamper.stamp(
    parseIncoming(enc('{"event_type":"t","__proto__":{"polluted":true},"payload":{"__proto__":{"x":1}}}'), 'local', limits),
  );
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  assert.equal(Object.getPrototypeOf(event), Object.prototype);
  assert.ok(Object.hasOwn(JSON.parse(json), '__proto__'));
});

test('event - parsePublished fills defaults for legacy events', () => {
  const e = parsePublished('{"id":"x","event_type":"zmq.test","namespace":"local"}');
  assert.equal(e.trace_id, 'x');
  assert.deepEqual(e.payload, {});
  assert.equal(e.seq, 0);
  assert.throws(() => parsePublished('{"event_type":"t"}'), /"id"/);
  assert.throws(() => parsePublished('nope'), EventValidationError);
});

test('event - stampBytes gives the bytes stamp gives, for any text before the "{" and any characters', () => {
  const texts = [
    '{"event_type":"t"}',
    ' \n\t{"event_type":"t","payload":{"msg":"héllo ✓ 🚀","q":"\\"quoted\\""}}',
    '\uFEFF{"event_type":"t","id":"client-1","payload":[1,2]}',
    '{"event_type":"t","seq":5,"epoch":9,"payload":{}}',
    '{"event_type":"t","namespace":"ops","timestamp":12.5,"trace_id":"tr"}',
  ];
  for (const text of texts) {
    const raw = enc(text);
    const a = new EventStamper(3).stamp(parseIncoming(raw, 'local', limits), 1_000_000);
    const b = new EventStamper(3).stampBytes(parseIncoming(raw, 'local', limits), raw, 1_000_000);
    const got = JSON.parse(b.body.toString('utf8'));
    const want = JSON.parse(a.json);
    assert.equal(b.id, got.id);
    assert.equal(b.seq, 1);
    // Generated ids differ between two stampers; everything else is the same.
    if (!text.includes('"id"')) for (const e of [got, want]) e.id = e.trace_id = e.trace_id === e.id ? 'generated' : e.trace_id;
    assert.deepEqual(got, want, text);
  }
});

test('event - stampBytes writes the router fields byte for byte as JSON.stringify would, before the client bytes', () => {
  const texts = [
    '{"event_type":"t"}',
    '{"event_type":"t","payload":{"pad":"xxxx"},"namespace":"ops"}',
    '{"event_type":"t","id":"client \\"quoted\\" ✓","payload":[1]}',
    '{"event_type":"t","id":"c-1","trace_id":"tr","timestamp":12.5}',
    '{"event_type":"t","hops":3}',
    `${' '.repeat(300)}{"event_type":"t"}`,
    '\uFEFF {"event_type":"t","payload":"é"}',
  ];
  for (const namespace of ['local', 'ns "é" \\ </script>']) {
    for (const text of texts) {
      const raw = enc(text);
      const now = 1_700_000_000_123;
      const incoming = parseIncoming(raw, namespace, limits);
      const out = new EventStamper(1_699_999_999_999).stampBytes(incoming, raw, now);
      const f = incoming.fields;
      const added: Record<string, unknown> = {};
      if (!Object.hasOwn(f, 'id')) added['id'] = out.id;
      if (!Object.hasOwn(f, 'namespace')) added['namespace'] = namespace;
      if (!Object.hasOwn(f, 'payload')) added['payload'] = {};
      if (!Object.hasOwn(f, 'timestamp')) added['timestamp'] = now / 1000;
      if (!Object.hasOwn(f, 'trace_id')) added['trace_id'] = out.id;
      if (!Object.hasOwn(f, 'hops')) added['hops'] = 0;
      added['seq'] = 1;
      added['epoch'] = 1_699_999_999_999;
      const head = Buffer.from(`${JSON.stringify(added).slice(0, -1)},`);
      const want = Buffer.concat([head, raw.subarray(raw.indexOf(0x7b) + 1)]);
      assert.ok(out.body.equals(want), `${namespace} ${text}\n${out.body.toString()}\n${want.toString()}`);
    }
  }
});

test('event - a NUL in a field name at any depth is refused as bad_key; in a value it is fine', () => {
  const refuse = (text: string): string | undefined => {
    try {
      parseIncoming(enc(text), 'local', limits);
      return undefined;
    } catch (err) {
      return (err as EventValidationError).reason;
    }
  };
  assert.equal(refuse('{"event_type":"t","payload":{"a\\u0000b":1}}'), 'bad_key');
  assert.equal(refuse('{"event_type":"t","payload":[{"x":[{"\\u0000":1}]}]}'), 'bad_key');
  assert.equal(refuse('{"event_type":"t","\\u0000top":1}'), 'bad_key');
  assert.equal(refuse('{"event_type":"t","payload":{"a":"b\\u0000c"}}'), undefined);
  assert.equal(refuse('{"event_type":"t","payload":{"a":"\\\\u0000 is only text"}}'), undefined);
});

test('event - hops: a whole number >= 0, at most the router limit', () => {
  const refuse = (hops: unknown, maxHops?: number): string | undefined => {
    try {
      parseIncoming(enc(JSON.stringify({ event_type: 't', hops })), 'local', { ...limits, ...(maxHops === undefined ? {} : { maxHops }) });
      return undefined;
    } catch (err) {
      return (err as EventValidationError).reason;
    }
  };
  assert.equal(refuse(0), undefined);
  assert.equal(refuse(8), undefined);
  assert.equal(refuse(9), 'too_many_hops');
  assert.equal(refuse(3, 2), 'too_many_hops');
  assert.equal(refuse(-1), 'bad_hops');
  assert.equal(refuse(1.5), 'bad_hops');
  assert.equal(refuse('2'), 'bad_hops');
});
