import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { inputsStack, type InputsStack } from '../helpers/inputs.js';
import { uniqueName, useServices } from '../helpers/services.js';

const stacks: InputsStack[] = [];
let redis: Redis;
after(async () => {
  for (const s of stacks) await s.close();
  redis?.disconnect();
});
const services = useServices();

before(async () => {
  redis = new Redis(await services.redisUrl());
});

const HOUR = 3_600_000;
const key = (input: string, schedule: string): string => `bull:event-reactor:timer:${input}:${schedule}`;

async function stack(name: string, schedules: unknown[]): Promise<InputsStack> {
  const s = await inputsStack({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    feeders: [{ handler: 'TimerInput', name, config: { schedules } }],
  });
  stacks.push(s);
  return s;
}

test('timer input - every N seconds: one event per tick, with the tick time, a deterministic id, and the tick saved', async () => {
  const name = uniqueName('tick');
  const s = await stack(name, [{ every: 1, event_type: 'tick', payload: { from: 'test' } }]);
  const got = await s.waitFor((e) => e.event_type === 'tick', 2, 10_000);
  const [a, b] = got;
  assert.equal(a!.timestamp % 1, 0, 'on a whole second');
  assert.equal(b!.timestamp - a!.timestamp, 1);
  assert.equal(a!.id, `timer:${name}:tick:${new Date(a!.timestamp * 1000).toISOString()}`);
  assert.equal(a!['schedule'], 'tick');
  assert.equal(a!['tick'], new Date(a!.timestamp * 1000).toISOString());
  assert.deepEqual(a!.payload, { from: 'test' });
  assert.equal(a!['late'], undefined);
  assert.ok(Number(await redis.get(key(name, 'tick'))) >= b!.timestamp * 1000);
});

test('timer input - across restarts: a first start fires nothing missed, a missed tick fires once (late), a restart fires nothing twice', async () => {
  const name = uniqueName('hourly');
  const schedules = [{ every: 3600, event_type: 'hourly' }];
  const latest = Math.floor(Date.now() / HOUR) * HOUR;
  // First start: nothing saved, nothing fired.
  const s = await stack(name, schedules);
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(s.published.filter((e) => e.event_type === 'hourly').length, 0);
  assert.equal(await redis.get(key(name, 'hourly')), null);
  await s.stopInputs();
  // Two hours missed: the latest one fires once, late.
  await redis.set(key(name, 'hourly'), String(latest - 2 * HOUR));
  await s.startInputs();
  const [late] = await s.waitFor((e) => e.event_type === 'hourly');
  assert.equal(late!.timestamp, latest / 1000);
  assert.equal(late!['late'], true);
  assert.equal(late!.id, `timer:${name}:hourly:${new Date(latest).toISOString()}`);
  assert.equal(await redis.get(key(name, 'hourly')), String(latest));
  // Restarted: that tick is not fired again.
  await s.stopInputs();
  await s.startInputs();
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(s.published.filter((e) => e.event_type === 'hourly').length, 1);
});

test('timer input - router down across ticks: the tick waits, then the latest missed tick fires once, late; no id twice', async () => {
  const name = uniqueName('outage');
  const s = await stack(name, [{ every: 1, event_type: 'beat' }]);
  await s.waitFor((e) => e.event_type === 'beat');
  await s.stopRouter();
  await new Promise((r) => setTimeout(r, 3500));
  await s.startRouter();
  const before = s.published.filter((e) => e.event_type === 'beat').length;
  const got = await s.waitFor((e) => e.event_type === 'beat', before + 2, 20_000);
  const ids = got.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no tick fired twice');
  const ticks = got.map((e) => e.timestamp);
  assert.deepEqual(
    ticks,
    [...ticks].sort((x, y) => x - y),
    'ticks in order',
  );
  assert.ok(
    got.some((e) => e['late'] === true),
    'the latest tick missed during the outage fired late',
  );
  // Fewer events than seconds of outage: the missed ticks were not all fired.
  const span = ticks[ticks.length - 1]! - ticks[0]!;
  assert.ok(got.length < span + 1, `${got.length} events over ${span} s`);
});

test('timer input - cron with seconds', async () => {
  const name = uniqueName('cron');
  const s = await stack(name, [{ name: 'every2s', cron: '*/2 * * * * *', timezone: 'Europe/Paris', event_type: 'cron.2s' }]);
  const got = await s.waitFor((e) => e.event_type === 'cron.2s', 2, 10_000);
  assert.equal(got[1]!.timestamp - got[0]!.timestamp, 2);
  assert.equal(got[0]!.timestamp % 2, 0);
  assert.match(got[0]!.id, new RegExp(`^timer:${name}:every2s:`));
});
