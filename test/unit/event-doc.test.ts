import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toEventDoc } from '../../src/archive/mongo-archive.js';
import type { ReactorEvent } from '../../src/event/event.js';

const event = (extra: Record<string, unknown> = {}): ReactorEvent => ({
  id: 'e1',
  namespace: 'local',
  event_type: 't',
  payload: { a: 1 },
  timestamp: 1_700_000_000.5,
  trace_id: 'e1',
  seq: 3,
  epoch: 9,
  ...extra,
});

test('event doc - the event fields, then key, time and received_at; _id is the event id', () => {
  const at = new Date(1_700_000_001_000);
  const doc = toEventDoc(event(), at);
  assert.deepEqual(Object.keys(doc), [
    '_id',
    'id',
    'namespace',
    'event_type',
    'payload',
    'timestamp',
    'trace_id',
    'seq',
    'epoch',
    'key',
    'time',
    'received_at',
  ]);
  assert.equal(doc['_id'], 'e1');
  assert.equal(doc['key'], 'local:t');
  assert.equal((doc['time'] as Date).getTime(), 1_700_000_000_500);
  assert.equal(doc['received_at'], at);
});

test('event doc - an _id field of the event does not replace its id', () => {
  const doc = toEventDoc(event({ _id: 'other' }), new Date());
  assert.equal(doc['_id'], 'e1');
  assert.equal(Object.keys(doc)[0], '_id');
});

test('event doc - a "__proto__" field from the wire stays a field and changes no prototype', () => {
  const parsed = JSON.parse(
    '{"id":"e2","namespace":"local","event_type":"t","payload":null,"timestamp":1,"trace_id":"e2","seq":1,"epoch":1,"__proto__":{"polluted":true}}',
  ) as ReactorEvent;
  const doc = toEventDoc(parsed, new Date());
  assert.ok(Object.hasOwn(doc, '__proto__'));
  assert.deepEqual(Object.getOwnPropertyDescriptor(doc, '__proto__')?.value, { polluted: true });
  assert.equal(Object.getPrototypeOf(doc), Object.prototype);
  assert.equal((doc as { polluted?: unknown }).polluted, undefined);
});
