import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAULT_EVENTS, Scenario } from './helpers/scenario.js';

let s: Scenario | undefined;
after(() => s?.close());

/** Handlers take this long, so workers always have jobs running when one is killed. */
const NAP_MS = 20;

test('faults - kill -9 of a worker mid-job (two workers, each once): its jobs run on the other, each result archived once', async () => {
  // worker.lock_duration is 5 s in the fault stack: stalled jobs are taken over within ~10 s.
  s = await Scenario.start('worker-kill', {
    stack: { workers: 2, tsfunc: 'nap.nap', env: { FAULT_NAP_MS: String(NAP_MS) }, extra: { worker: { concurrency: 8 } } },
  });
  const { stack, feeder } = s;
  const [first, second] = stack.workers as [(typeof stack.workers)[0], (typeof stack.workers)[0]];
  const feeding = feeder.run();
  const kills: { worker: string; at: number; active_jobs: number; taken_over_after_s: number | null }[] = [];
  for (const [share, victim, survivor] of [
    [0.3, first, second],
    [0.6, second, first],
  ] as const) {
    await feeder.waitDispatched(Math.floor(FAULT_EVENTS * share));
    let active = 0;
    for (const deadline = Date.now() + 30_000; (active = await s.tally.activeJobs()) < 4; await sleep(5)) {
      if (Date.now() > deadline) throw new Error(`fewer than 4 jobs active for 30 s (${active}); nothing to kill mid-job`);
    }
    await victim.kill('SIGKILL');
    const at = s.seconds;
    // The survivor finds the victim's jobs stalled once their locks expire, and runs them.
    const takenOver = await survivor.waitForLine(/job stalled/, 20_000).then(
      () => s!.seconds - at,
      () => null,
    );
    kills.push({ worker: victim.name, at: Math.round(at * 10) / 10, active_jobs: active, taken_over_after_s: takenOver && Math.round(takenOver * 10) / 10 });
    // Let those runs finish before the next kill, so that no job is caught in both.
    await sleep(2000);
    await stack.startOne(victim);
  }
  await feeding;
  const summary = await s.finish({ kills });
  await s.assertNothingLost(summary);
  assert.ok(summary.reruns + Number(summary['jobs_already_ran']) > 0, 'some job was cut off mid-run and taken over');
});
