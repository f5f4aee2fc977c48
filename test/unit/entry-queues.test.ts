import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildHandlers } from '../../src/config/handlers-file.js';
import { ConfigError } from '../../src/errors.js';
import { explainPolicy } from '../../src/rules/entry-policy.js';
import { laneCap, planLanes } from '../../src/queue/lane-plan.js';
import { HOLE_GRACE_MS, orderGroup, orderVerdict } from '../../src/queue/order-tickets.js';
import { SlotPool } from '../../src/queue/slot-pool.js';
import { entryQueueName, legacyQueueNames, queueFor } from '../../src/queue/queue-for.js';
import { sampleEvent } from '../helpers/events.js';

function problems(entry: Record<string, unknown>): { path: string; message: string }[] {
  try {
    buildHandlers('/h.json', { 'local:x': [{ driver: 'shell', handler: 'a.sh', ...entry }] });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => ({ path: p.path, message: p.message }));
  }
  assert.fail('expected a ConfigError');
}

test('entry policy - concurrency, rate, order_by and breaker are compiled onto the entry; exclusive is concurrency 1', () => {
  const { table } = buildHandlers('/h.json', {
    'local:x': [
      {
        driver: 'shell',
        handler: 'a.sh',
        concurrency: 3,
        rate: { max: 10, per: 60 },
        order_by: 'payload.host',
        breaker: { failures: 5, within: 60, open_for: 300 },
      },
      { driver: 'shell', handler: 'b.sh', exclusive: true },
      { driver: 'shell', handler: 'c.sh' },
    ],
  });
  const [a, b, c] = table.get('local:x')!;
  assert.deepEqual(a!.policy, { concurrency: 3, rate: { max: 10, perS: 60 }, orderBy: 'payload.host', breaker: { failures: 5, withinS: 60, openForS: 300 } });
  assert.deepEqual(b!.policy, { concurrency: 1 });
  assert.equal(c!.policy, undefined);
});

test('entry policy - a policy is not part of the entry id: changing it keeps the entry and its queue', () => {
  const one = buildHandlers('/h.json', { 'local:x': [{ driver: 'shell', handler: 'a.sh', concurrency: 2 }] }).table.get('local:x')![0]!;
  const two = buildHandlers('/h.json', { 'local:x': [{ driver: 'shell', handler: 'a.sh', rate: { max: 1, per: 1 } }] }).table.get('local:x')![0]!;
  assert.equal(one.id, two.id);
});

test('entry policy - bad values are refused with their key path', () => {
  assert.deepEqual(problems({ concurrency: 0 }), [{ path: 'local:x[0].concurrency', message: 'must be a whole number from 1 to 10000' }]);
  assert.deepEqual(problems({ concurrency: 2, exclusive: true }), [
    { path: 'local:x[0].concurrency', message: 'is 2, but "exclusive": true means one run at a time: keep one of the two keys' },
  ]);
  assert.deepEqual(problems({ rate: { max: 1.5, per: 0, burst: 2 } }), [
    { path: 'local:x[0].rate.burst', message: 'unknown key (one of max, per)' },
    { path: 'local:x[0].rate.max', message: 'must be a whole number from 1 to 1000000' },
    { path: 'local:x[0].rate.per', message: 'must be a number of seconds above 0 (at most 86400)' },
  ]);
  assert.deepEqual(problems({ rate: 10 }), [{ path: 'local:x[0].rate', message: 'must be an object' }]);
  assert.deepEqual(problems({ order_by: 'payload host' }), [{ path: 'local:x[0].order_by', message: 'must be a path into the event, e.g. payload.host' }]);
  assert.deepEqual(problems({ breaker: { failures: 5 } }), [
    { path: 'local:x[0].breaker.within', message: 'must be a number of seconds above 0 (at most 86400)' },
    { path: 'local:x[0].breaker.open_for', message: 'must be a number of seconds above 0 (at most 86400)' },
  ]);
});

test('entry policy - test-event explains the policy and the order_by value of the event', () => {
  const event = sampleEvent({ payload: { host: 'web-1' } });
  assert.deepEqual(explainPolicy(undefined, event), []);
  assert.deepEqual(explainPolicy({ concurrency: 2, orderBy: 'payload.host', breaker: { failures: 5, withinS: 60, openForS: 300 } }, event), [
    'queue: concurrency 2, order_by payload.host, breaker 5 failures in 60 s opens it for 300 s (while open, its jobs wait)',
    'order_by: payload.host = "web-1": runs after the earlier events of that value',
  ]);
});

test('entry queues - one queue per entry, named without ":" (BullMQ refuses it), stable and distinct', () => {
  const spec = buildHandlers('/h.json', { 'local:x': [{ driver: 'shell', handler: 'a.sh' }] }).table.get('local:x')![0]!;
  const name = queueFor({ event: sampleEvent(), handler: spec }, 'er');
  assert.equal(name, entryQueueName('er', 'local:x', spec.id));
  assert.match(name, /^er\.h\.[0-9a-f]{16}$/);
  assert.notEqual(entryQueueName('er', 'local:y', spec.id), name);
  assert.deepEqual(legacyQueueNames('er'), ['er', 'er-exclusive']);
});

test('entry queues - each entry may hold all but one of a worker slots when there are several, never more than its concurrency', () => {
  assert.equal(laneCap(16, 1, undefined), 16);
  assert.equal(laneCap(16, 5, undefined), 15);
  assert.equal(laneCap(1, 5, undefined), 1);
  assert.equal(laneCap(16, 5, { concurrency: 2 }), 2);
  const specs = buildHandlers('/h.json', {
    'local:x': [
      { driver: 'shell', handler: 'a.sh', exclusive: true },
      { driver: 'shell', handler: 'b.sh' },
    ],
  }).table.get('local:x')!;
  const lanes = planLanes(
    'er',
    specs,
    new Map([
      ['er', 3],
      ['er-exclusive', 0],
      [entryQueueName('er', 'local:x', specs[0]!.id), 5],
    ]),
    4,
  );
  assert.deepEqual(
    lanes.map((l) => [l.name, l.spec?.command, l.cap]),
    [
      [entryQueueName('er', 'local:x', specs[0]!.id), 'a.sh', 1],
      [entryQueueName('er', 'local:x', specs[1]!.id), 'b.sh', 3],
      ['er', undefined, 3],
    ],
    'a queue the table lacks is drained while it holds jobs; an empty one is not',
  );
});

test('order tickets - a job runs on its turn, waits behind an earlier one, and skips a ticket whose job is gone or done', () => {
  const now = 1_000_000;
  assert.equal(orderVerdict(3, { run: 3, assignedAt: now, state: undefined }, now), 'run');
  assert.equal(orderVerdict(2, { run: 3, assignedAt: now, state: undefined }, now), 'run', 'its turn passed (dlq retry): runs at once');
  assert.equal(orderVerdict(1, { run: 0, assignedAt: 0, state: undefined }, now), 'run', 'the group is done');
  assert.equal(orderVerdict(4, { run: 3, assignedAt: now, state: 'delayed' }, now), 'wait');
  assert.equal(orderVerdict(4, { run: 3, assignedAt: now, state: 'active' }, now), 'wait');
  assert.equal(orderVerdict(4, { run: 3, assignedAt: now, state: 'completed' }, now), 'skip-hole');
  assert.equal(orderVerdict(4, { run: 3, assignedAt: now, state: 'failed' }, now), 'skip-hole');
  assert.equal(orderVerdict(4, { run: 3, assignedAt: now, state: 'unknown' }, now + 1000), 'wait', 'its job may be on its way to the queue');
  assert.equal(orderVerdict(4, { run: 3, assignedAt: now, state: 'unknown' }, now + HOLE_GRACE_MS), 'skip-hole');
  const a = sampleEvent({ payload: { host: 'a' } });
  assert.equal(orderGroup(a, 'payload.host'), orderGroup(sampleEvent({ payload: { host: 'a', x: 1 } }), 'payload.host'));
  assert.notEqual(orderGroup(a, 'payload.host'), orderGroup(sampleEvent({ payload: { host: 'b' } }), 'payload.host'));
});

test('slot pool - a lane never holds more than its cap; a slot given back goes to a lane under its cap; a wait ends after its time', async () => {
  const pool = new SlotPool(3);
  const stuck = { held: 0, cap: 2 };
  const other = { held: 0, cap: 2 };
  assert.equal(await pool.take(stuck, 10), true);
  assert.equal(await pool.take(stuck, 10), true);
  assert.equal(await pool.take(stuck, 10), false, 'at its cap, though a slot is free');
  assert.equal(await pool.take(other, 10), true, 'the slot left for the others');
  const waiting = pool.take(other, 5000);
  const blocked = pool.take(stuck, 5000);
  pool.release(stuck);
  assert.equal(await waiting, true, 'the first waiter under its cap gets the slot');
  assert.equal(other.held, 2);
  pool.release(other);
  assert.equal(await blocked, true);
  assert.equal(stuck.held, 2);
});
