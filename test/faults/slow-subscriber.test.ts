import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FAULT_EVENTS, FAULT_RATE, Scenario } from './helpers/scenario.js';

let s: Scenario | undefined;
after(() => s?.close());

/** Each handler run sleeps this long: 8 at a time is at most 200 runs/s, well below the input rate. */
const NAP_MS = 40;
const CONCURRENCY = 8;
/**
 * The subscriber is also frozen (SIGSTOP) this long mid-stream. With a small PUB
 * high-water mark and 1 KiB payloads, more piles up than ZeroMQ and TCP hold: the router
 * drops, and the subscriber must fetch the gap from the replay socket.
 */
const FREEZE_S = 6;
const PAD_BYTES = 1024;
/** Upper bound for the subscriber's resident memory. */
const SUB_RSS_LIMIT = 300 * 1024 * 1024;

test('faults - handlers far slower than the input and a frozen subscriber: nothing dropped, memory bounded', async () => {
  s = await Scenario.start('slow-sub', {
    stack: {
      tsfunc: 'nap.nap',
      env: { FAULT_NAP_MS: String(NAP_MS) },
      pubHighWaterMark: 1000,
      extra: { worker: { concurrency: CONCURRENCY } },
    },
    feeder: { padBytes: PAD_BYTES },
  });
  const { stack, feeder } = s;
  let workerRssMax = 0;
  const sampler = setInterval(() => {
    workerRssMax = Math.max(workerRssMax, stack.workers[0]!.rss() ?? 0);
  }, 500);
  try {
    const feeding = feeder.run();
    await feeder.waitDispatched(Math.floor(FAULT_EVENTS * 0.3));
    await stack.sub.kill('SIGSTOP');
    await sleep(FREEZE_S * 1000);
    await stack.sub.kill('SIGCONT');
    await feeding;
    const backlog = await s.tally.unfinishedJobs();
    const summary = await s.finish({
      input_rate: FAULT_RATE,
      handler_rate_max: Math.round((1000 / NAP_MS) * CONCURRENCY),
      backlog_jobs_when_fed: backlog,
      worker_rss_max_mb: Math.round(workerRssMax / 1e5) / 10,
    });
    await s.assertNothingLost(summary);
    assert.ok(s.subRssMax < SUB_RSS_LIMIT, `subscriber RSS stayed under ${SUB_RSS_LIMIT / 1e6} MB (max ${s.subRssMax / 1e6} MB)`);
  } finally {
    clearInterval(sampler);
  }
});
