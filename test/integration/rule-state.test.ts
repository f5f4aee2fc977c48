import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RuleState } from '../../src/rule-state/rule-state.js';
import { compileCorrelations, compileIf, compileRegisters, compileThrottle } from '../../src/rules/stateful-specs.js';
import { sampleEvent } from '../helpers/events.js';
import { uniqueName, useServices } from '../helpers/services.js';

const states: RuleState[] = [];
after(() => Promise.all(states.map((s) => s.close())));
const services = useServices();

async function state(prefix: string, now?: () => number): Promise<RuleState> {
  const s = new RuleState({ redisUrl: await services.redisUrl(), prefix, ...(now ? { now } : {}) });
  states.push(s);
  return s;
}

const load = (id: string, host: string, load1: unknown) => sampleEvent({ id, namespace: 'srv', event_type: 'load.avg', payload: { host, load1 } });
const source = { path: 'registers' };

test('rule state - registers: windows per group, each event counted once, aggregates and min_samples', async () => {
  let t = 1_000_000;
  const s = await state(uniqueName('reg'), () => t);
  const regs = compileRegisters({ load: { key: '*:load.*', value: 'payload.load1', window: 60, by: 'payload.host' } }, source);
  const cond = compileIf({ register: 'load', agg: 'avg', op: '>', value: 4, min_samples: 3 }, { path: 'x.if' }, regs);
  for (const [i, v] of [5, 6, 7].entries()) {
    assert.deepEqual(await s.feed(load(`a${i}`, 'web1', v), 'srv:load.avg', regs.values()), []);
    t += 1000;
  }
  await s.feed(load('a2', 'web1', 7), 'srv:load.avg', regs.values()); // the same event again: not counted twice
  await s.feed(load('b0', 'web2', 1), 'srv:load.avg', regs.values());
  const web1 = await s.decideIf(cond, load('a2', 'web1', 7));
  assert.equal(web1.pass, true, web1.reason);
  assert.match(web1.reason, /avg\(load\) = 6 > 4/);
  const web2 = await s.decideIf(cond, load('b0', 'web2', 1));
  assert.equal(web2.pass, false);
  assert.match(web2.reason, /1 of 3 samples needed/);
  t += 61_000; // the window passes: old samples leave
  await s.feed(load('a9', 'web1', 1), 'srv:load.avg', regs.values());
  const later = await s.decideIf(compileIf({ register: 'load', agg: 'count', op: '==', value: 1 }, { path: 'y' }, regs), load('a9', 'web1', 1));
  assert.equal(later.pass, true, later.reason);
});

test('rule state - a missing or non-numeric value feeds nothing and is reported; rate is per second', async () => {
  let t = 0;
  const s = await state(uniqueName('reg'), () => t);
  const regs = compileRegisters({ req: { key: 'web:hits', value: 'payload.total', samples: 10 } }, source);
  const hit = (id: string, total: unknown) => sampleEvent({ id, namespace: 'web', event_type: 'hits', payload: { total } });
  assert.deepEqual(await s.feed(hit('x', 'many'), 'web:hits', regs.values()), [{ register: 'req', reason: 'not_a_number', path: 'payload.total' }]);
  assert.deepEqual(await s.feed(sampleEvent({ id: 'y', payload: {} }), 'web:hits', regs.values()), [
    { register: 'req', reason: 'missing', path: 'payload.total' },
  ]);
  for (const [i, v] of [100, 150, 300].entries()) {
    t = i * 10_000;
    await s.feed(hit(`h${i}`, v), 'web:hits', regs.values());
  }
  const rate = await s.decideIf(compileIf({ register: 'req', agg: 'rate', op: '==', value: 10 }, { path: 'z' }, regs), hit('h2', 300));
  assert.equal(rate.pass, true, rate.reason);
});

test('rule state - throttle: one run per period per group, the same event passes again, and a new instance sees it', async () => {
  const prefix = uniqueName('thr');
  const a = await state(prefix);
  const spec = compileThrottle({ once_per: 300, by: 'payload.host' }, { path: 't' });
  const e = (id: string, host: string) => sampleEvent({ id, payload: { host } });
  assert.equal((await a.throttle('h1', spec, e('1', 'web1'))).pass, true);
  assert.equal((await a.throttle('h1', spec, e('1', 'web1'))).pass, true, 'a retried batch');
  const second = await a.throttle('h1', spec, e('2', 'web1'));
  assert.equal(second.pass, false);
  assert.match(second.reason, /throttled: event 1 ran for group web1; next run allowed in \d+ s/);
  assert.equal((await a.throttle('h1', spec, e('3', 'web2'))).pass, true, 'another group');
  const restarted = await state(prefix);
  assert.equal((await restarted.throttle('h1', spec, e('4', 'web1'))).pass, false, 'state survives a restart');
  assert.equal((await restarted.throttle('h1', spec, e('5', 'web1'), true)).pass, false, 'peek sees it too');
});

test('rule state - debounce: only the latest event of the group is still the latest', async () => {
  const s = await state(uniqueName('deb'));
  const spec = { quietS: 5 };
  const first = await s.debounce('h1', spec, sampleEvent({ id: 'e1' }));
  const second = await s.debounce('h1', spec, sampleEvent({ id: 'e2' }));
  assert.equal(first.key, second.key);
  assert.equal(second.delayMs, 5000);
  assert.equal(await s.isLatest(first.key, 'e1'), false);
  assert.equal(await s.isLatest(second.key, 'e2'), true);
});

test('rule state - correlations complete once per group, across two subscribers, within the window only; the completing event asking again gets the same answer', async () => {
  let t = 0;
  const prefix = uniqueName('cor');
  const a = await state(prefix, () => t);
  const b = await state(prefix, () => t);
  const [deploy] = compileCorrelations(
    { done: { all: ['ci:deploy.started', 'ci:deploy.finished'], within: 600, by: 'payload.deploy_id', emit: 'ci:deploy.completed' } },
    { path: 'correlations' },
  );
  const ev = (id: string, type: string, dep: string) => sampleEvent({ id, namespace: 'ci', event_type: type, payload: { deploy_id: dep } });
  assert.deepEqual(await a.correlate(ev('s1', 'deploy.started', 'd1'), 'ci:deploy.started', [deploy!]), []);
  assert.deepEqual(await b.correlate(ev('s2', 'deploy.started', 'd2'), 'ci:deploy.started', [deploy!]), []);
  const done = await b.correlate(ev('f1', 'deploy.finished', 'd1'), 'ci:deploy.finished', [deploy!]);
  assert.deepEqual(
    done.map((d) => [d.group, d.ids]),
    [['d1', ['s1', 'f1']]],
  );
  // The same completing event again (decided again after a crash, or by a second
  // subscriber): the same ids, so the event it fires has the same id and is taken once.
  assert.deepEqual(
    (await a.correlate(ev('f1', 'deploy.finished', 'd1'), 'ci:deploy.finished', [deploy!])).map((d) => d.ids),
    [['s1', 'f1']],
  );
  assert.deepEqual(await a.correlate(ev('f9', 'deploy.finished', 'd1'), 'ci:deploy.finished', [deploy!]), [], 'another finish: the sightings were consumed');
  t += 601_000; // d2's start is too old when its finish comes
  assert.deepEqual(await a.correlate(ev('f2', 'deploy.finished', 'd2'), 'ci:deploy.finished', [deploy!]), []);
});
