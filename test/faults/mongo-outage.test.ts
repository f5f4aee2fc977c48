import { test, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAULT_EVENTS, FAULT_OUTAGE_S, Scenario } from './helpers/scenario.js';

let s: Scenario | undefined;
after(() => s?.close());

test(`faults - MongoDB killed (kill -9) for ${FAULT_OUTAGE_S} s and restarted on its data: nothing lost or archived twice`, async () => {
  s = await Scenario.start('mongo-outage');
  const feeding = s.feeder.run();
  await s.feeder.waitDispatched(Math.floor(FAULT_EVENTS * 0.3));
  const downAt = Math.round(s.seconds * 10) / 10;
  await s.mongo.kill();
  await sleep(FAULT_OUTAGE_S * 1000);
  await s.mongo.start();
  const upAt = Math.round(s.seconds * 10) / 10;
  await feeding;
  const summary = await s.finish({ outage: { down_at: downAt, up_at: upAt } });
  await s.assertNothingLost(summary);
});
