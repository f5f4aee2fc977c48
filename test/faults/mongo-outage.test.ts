import { test, after } from 'node:test';
import { FAULT_OUTAGE_S, Scenario } from './helpers/scenario.js';

let s: Scenario | undefined;
after(() => s?.close());

test(`faults - MongoDB killed (kill -9) for ${FAULT_OUTAGE_S} s and restarted on its data: nothing lost or archived twice`, async () => {
  s = await Scenario.start('mongo-outage');
  await s.outage(s.mongo);
});
