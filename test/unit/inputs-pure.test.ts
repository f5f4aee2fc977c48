import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventFromAmqp, parseOpenStackTime } from '../../src/inputs/amqp-message.js';
import { missedOnStart, tickEventId, tickToFire, ticksOf } from '../../src/inputs/timer-ticks.js';
import { render, renderText, templateProblems } from '../../src/handlers/template.js';
import { HandlerRefusedError } from '../../src/errors.js';

const info = { routingKey: 'notifications.info', exchange: 'nova' };
const body = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

test('amqp message - a notification keeps its fields, its time parsed, message_id as id; the envelope is unwrapped', () => {
  const n = {
    message_id: 'm-1',
    publisher_id: 'compute.h1',
    event_type: 'compute.instance.exists',
    priority: 'INFO',
    payload: { a: 1 },
    timestamp: '2013-05-07 19:54:04.213452',
  };
  const plain = eventFromAmqp(body(n), info);
  const wrapped = eventFromAmqp(body({ 'oslo.version': '2.0', 'oslo.message': JSON.stringify(n) }), info);
  for (const d of [plain, wrapped]) {
    assert.ok('event' in d);
    assert.deepEqual(d.event, { ...n, id: 'm-1', timestamp: 1367956444.213452, timestamp_text: '2013-05-07 19:54:04.213452' });
  }
});

test('amqp message - events as they are, other JSON as payload under the routing key, refusals with reasons', () => {
  assert.deepEqual(eventFromAmqp(body({ event_type: 'x.y', payload: 1 }), info), { event: { event_type: 'x.y', payload: 1 } });
  assert.deepEqual(eventFromAmqp(body({ event_type: 5 }), info), { event: { event_type: 'notifications.info', payload: { event_type: 5 } } });
  assert.deepEqual(eventFromAmqp(body('"text"'), { ...info, routingKey: '', messageId: 'p-1' }), { event: { event_type: 'nova', payload: 'text', id: 'p-1' } });
  assert.equal((eventFromAmqp(body('not json'), info) as { refused: string }).refused, 'invalid_json');
  assert.equal((eventFromAmqp(Buffer.from([0xff]), info) as { refused: string }).refused, 'bad_encoding');
  assert.equal((eventFromAmqp(body({ 'oslo.message': '{' }), info) as { refused: string }).refused, 'invalid_json');
});

test('amqp message - oslo times: UTC unless said otherwise; nonsense is undefined', () => {
  assert.equal(parseOpenStackTime('2013-05-07 19:54:04'), Date.UTC(2013, 4, 7, 19, 54, 4) / 1000);
  assert.equal(parseOpenStackTime('2013-05-07T19:54:04Z'), Date.UTC(2013, 4, 7, 19, 54, 4) / 1000);
  assert.equal(parseOpenStackTime('2013-05-07T21:54:04+02:00'), Date.UTC(2013, 4, 7, 19, 54, 4) / 1000);
  assert.equal(parseOpenStackTime('yesterday'), undefined);
});

test('timer ticks - every N s ticks at multiples of N; cron with seconds and time zones', () => {
  const every = ticksOf({ every: 10 });
  assert.equal(every.next(1_000_005_000), 1_000_010_000);
  assert.equal(every.next(1_000_010_000), 1_000_020_000);
  assert.equal(every.latest(1_000_019_999), 1_000_010_000);
  const five = ticksOf({ cron: '*/5 * * * *' });
  assert.equal(five.next(Date.UTC(2026, 0, 1, 10, 3, 7)), Date.UTC(2026, 0, 1, 10, 5));
  assert.equal(five.latest(Date.UTC(2026, 0, 1, 10, 5)), Date.UTC(2026, 0, 1, 10, 5));
  const secs = ticksOf({ cron: '*/15 * * * * *' });
  assert.equal(secs.next(Date.UTC(2026, 0, 1, 10, 0, 1)), Date.UTC(2026, 0, 1, 10, 0, 15));
  const paris = ticksOf({ cron: '0 2 * * *', timezone: 'Europe/Paris' });
  assert.equal(paris.next(Date.UTC(2026, 0, 1, 12)), Date.UTC(2026, 0, 2, 1), '02:00 in Paris is 01:00 UTC in winter');
});

test('timer ticks - a missed tick fires once on start, never on a first start; a long wait fires the latest tick once, late', () => {
  const t = ticksOf({ every: 60 });
  assert.equal(missedOnStart(t, undefined, 1_000_000_000), undefined);
  assert.equal(missedOnStart(t, 999_960_000, 1_000_000_000), undefined, 'the latest tick was fired already');
  assert.equal(missedOnStart(t, 999_000_000, 1_000_000_000), 999_960_000);
  assert.deepEqual(tickToFire(t, 999_960_000, 999_960_050), { tick: 999_960_000, late: false });
  assert.deepEqual(tickToFire(t, 999_960_000, 1_000_200_000), { tick: 1_000_200_000 - (1_000_200_000 % 60_000), late: true });
  assert.equal(tickEventId('timers', 'cron.5m', Date.UTC(2026, 0, 1)), 'timer:timers:cron.5m:2026-01-01T00:00:00.000Z');
  assert.ok(tickEventId('x'.repeat(64), 'y'.repeat(64), 0).length <= 128);
});

test('templates - whole placeholders keep the value, embedded ones become text; missing names refuse; bad ones are reported', () => {
  const scope = { event: { id: 'e1', payload: { host: 'h', n: 3, tags: ['a'] } }, env: { TOKEN: 't' } };
  assert.deepEqual(render({ a: '{{event.payload}}', b: 'n={{ event.payload.n }}', c: ['{{event.payload.tags.0}}'], d: 1 }, scope), {
    a: { host: 'h', n: 3, tags: ['a'] },
    b: 'n=3',
    c: ['a'],
    d: 1,
  });
  assert.equal(renderText('Bearer {{env.TOKEN}}', scope), 'Bearer t');
  assert.throws(() => renderText('{{env.NOPE}}', scope), HandlerRefusedError);
  assert.throws(() => render('{{event.payload.missing}}', scope), /the event has no event\.payload\.missing/);
  assert.deepEqual(
    templateProblems({ h: '{{secret.X}}', i: ['{{event'] }).map((p) => p.path.join('.')),
    ['h', 'i.0'],
  );
});
