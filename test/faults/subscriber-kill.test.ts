import { test, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAULT_EVENTS, Scenario } from './helpers/scenario.js';

let s: Scenario | undefined;
after(() => s?.close());

test('faults - kill -9 of the subscriber mid-stream, restarted: every event archived and run exactly once', async () => {
  s = await Scenario.start('sub-kill');
  const feeding = s.feeder.run();
  const kills: { at: number; position: number }[] = [];
  // Twice: once in the live stream, once while it is still catching up from the first.
  for (const share of [0.3, 0.6]) {
    await s.feeder.waitDispatched(Math.floor(FAULT_EVENTS * share));
    kills.push({ at: Math.round(s.seconds * 10) / 10, position: s.feeder.dispatched });
    await s.stack.sub.kill('SIGKILL');
    await sleep(2000);
    await s.stack.startOne(s.stack.sub);
  }
  await feeding;
  const summary = await s.finish({ kills });
  await s.assertNothingLost(summary);
});
