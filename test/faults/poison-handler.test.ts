import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { FAULT_EVENTS, Scenario } from './helpers/scenario.js';
import { jobIdFor } from '../../src/queue/job.js';

let s: Scenario | undefined;
let stopSupervising: (() => void) | undefined;
after(async () => {
  stopSupervising?.();
  await s?.close();
});

/** Handlers take this long, so other jobs are running when the poison one kills its worker. */
const NAP_MS = 20;
const POISON_ID = 'poison-handler-poison';

// Jobs running beside the poison one are stalled with it, requeued with it, and usually
// taken by the same worker again: caught in both crashes, BullMQ fails them too. They end
// dead-lettered with the same reason (ERR_STALLED), and `event-reactor dlq retry` runs them.
test('faults - a handler that kills its worker (kill -9 of itself), workers restarted: it is dead-lettered with a reason, nothing lost', async () => {
  s = await Scenario.start('poison-handler', {
    stack: { workers: 2, tsfunc: 'nap.nap', env: { FAULT_NAP_MS: String(NAP_MS) }, extra: { worker: { concurrency: 8, lock_duration: 2 } } },
    feeder: { total: Math.round(FAULT_EVENTS / 5) },
  });
  const { stack, feeder } = s;
  const supervisors = stack.workers.map((w) => stack.supervise(w));
  stopSupervising = () => supervisors.forEach((sup) => sup.stop());
  const feeding = feeder.run();
  await feeder.waitDispatched(Math.floor((FAULT_EVENTS / 5) * 0.3));
  await feeder.fireOne(POISON_ID, { poison: true });
  await feeding;
  const summary = await s.finish({ worker_restarts: supervisors.map((sup) => sup.restarts()) });
  stopSupervising();
  const dead = await s.tally.db
    .collection('results')
    .find({ job_id: jobIdFor(POISON_ID, stack.handlers.tsfunc), dead: true })
    .toArray();
  assert.equal(dead.length, 1, 'the poison job has one dead result');
  assert.equal(dead[0]!['error_code'], 'ERR_STALLED');
  assert.match(String(dead[0]!['error']), /stalled/);
  await s.assertNothingLost(summary);
});
