import { test, after } from 'node:test';
import { FAULT_OUTAGE_S, Scenario } from './helpers/scenario.js';

let s: Scenario | undefined;
after(() => s?.close());

test(`faults - Redis killed (kill -9) for ${FAULT_OUTAGE_S} s and restarted on its data: nothing lost or run twice`, async () => {
  s = await Scenario.start('redis-outage');
  await s.outage(s.redis);
});
