import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { NETNS_SKIP, NetHost, freeSubnet } from '../helpers/netns.js';
import { FAULT_EVENTS, FAULT_OUTAGE_S, Scenario } from './helpers/scenario.js';

let s: Scenario | undefined;
let host: NetHost | undefined;
after(async () => {
  await s?.close();
  host?.destroySync();
});

/**
 * Handlers take this long: the cut-off worker always has jobs running, and the two workers
 * (8 at a time each) are slower than the input, so jobs still wait when the link is back.
 */
const NAP_MS = 50;

test(
  'faults - a worker host cut off for 30 s (its veth link down): its jobs run on the other worker, each result archived once',
  { skip: NETNS_SKIP },
  async () => {
    host = NetHost.create(freeSubnet(), 0);
    const remote = host;
    // Worker 2 runs in the namespace and reaches Redis and MongoDB over the veth pair; worker 1 here.
    s = await Scenario.start('worker-host-cut', {
      listenAll: true,
      stack: { workers: 2, tsfunc: 'nap.nap', env: { FAULT_NAP_MS: String(NAP_MS) }, extra: { worker: { concurrency: 8 } } },
      workerCommand:
        ({ redis, mongo }) =>
        (i, command, args) =>
          i === 1
            ? remote.command(command, [...args, '--redis-url', redis.urlFor(remote.hostAddr), '--mongo-url', mongo.urlFor(remote.hostAddr)])
            : { command, args },
    });
    const { stack, feeder } = s;
    const [local, cutOff] = stack.workers as [(typeof stack.workers)[0], (typeof stack.workers)[0]];
    const feeding = feeder.run();
    await feeder.waitDispatched(Math.floor(FAULT_EVENTS * 0.3));
    // Cut it while it is busy: once it has run some jobs (its first tsfunc call compiles the module).
    let ranBefore = 0;
    for (const deadline = Date.now() + 60_000; (ranBefore = cutOff.logLines(['handler finished']).length) < 50; await sleep(200)) {
      if (Date.now() > deadline) assert.fail(`the worker on the other host ran ${ranBefore} jobs in 60 s; nothing to cut off`);
    }
    remote.cut();
    const downAt = s.seconds;
    // worker.lock_duration is 5 s in the fault stack: the local worker takes the cut worker's jobs as stalled.
    const takenOver = await local.waitForLine(/job stalled/, 20_000).then(
      () => s!.seconds - downAt,
      () => null,
    );
    await sleep(Math.max(0, FAULT_OUTAGE_S * 1000 - (s.seconds - downAt) * 1000));
    remote.restore();
    const upAt = s.seconds;
    const cutRuns = cutOff.logLines(['handler finished']).length;
    // Back: the cut worker reconnects and runs jobs again.
    let backAfter: number | null = null;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(200)) {
      if (cutOff.logLines(['handler finished']).length > cutRuns + 10) {
        backAfter = s.seconds - upAt;
        break;
      }
      if (feeder.fired.size >= FAULT_EVENTS && (await s.tally.unfinishedJobs()) === 0) break;
    }
    await feeding;
    const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);
    const summary = await s.finish({
      cut: {
        down_at: round(downAt),
        up_at: round(upAt),
        taken_over_after_s: round(takenOver),
        remote_back_after_s: round(backAfter),
        remote_runs_before_cut: ranBefore,
        remote_runs_at_restore: cutRuns,
        remote_runs_total: cutOff.logLines(['handler finished']).length,
      },
    });
    await s.assertNothingLost(summary);
    assert.notEqual(takenOver, null, 'the local worker took over the jobs of the cut one');
    assert.notEqual(backAfter, null, 'the cut worker ran jobs again once its link was back');
  },
);
