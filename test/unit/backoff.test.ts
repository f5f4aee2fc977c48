import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKOFF_TYPE, MAX_BACKOFF_MS, backoffDelay, jitterBackoffStrategy } from '../../src/queue/backoff.js';
import { jobOptions } from '../../src/queue/job-queue.js';
import type { HandlerJobData } from '../../src/queue/job.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { sampleEvent } from '../helpers/events.js';

test('backoff - base × 2^(attempt-1), scaled by a jitter factor in [0.5, 1.5)', () => {
  assert.equal(
    backoffDelay(1, 1000, () => 0),
    500,
  );
  assert.equal(
    backoffDelay(1, 1000, () => 0.5),
    1000,
  );
  assert.equal(
    backoffDelay(2, 1000, () => 0.5),
    2000,
  );
  assert.equal(
    backoffDelay(3, 1000, () => 0.5),
    4000,
  );
  assert.equal(
    backoffDelay(3, 1000, () => 0.999),
    5996,
  );
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(4, 100);
    assert.ok(d >= 400 && d < 1200, `delay ${d} outside [400, 1200)`);
  }
});

test('backoff - capped at one hour, even for huge attempt counts', () => {
  assert.equal(
    backoffDelay(30, 1000, () => 0.99),
    MAX_BACKOFF_MS,
  );
  assert.equal(
    backoffDelay(10_000, 1000, () => 0),
    MAX_BACKOFF_MS,
  );
  assert.ok(Number.isFinite(backoffDelay(10_000, 86_400_000)));
});

test('backoff - a zero base (or no failed attempt) means retry at once', () => {
  assert.equal(backoffDelay(3, 0), 0);
  assert.equal(backoffDelay(0, 1000), 0);
});

test('backoff - the BullMQ strategy reads the base delay from the job', async () => {
  const job = { opts: { backoff: { type: BACKOFF_TYPE, delay: 1000 } } } as unknown as Parameters<typeof jitterBackoffStrategy>[3];
  const d = await jitterBackoffStrategy(2, BACKOFF_TYPE, new Error('x'), job);
  assert.ok(d >= 1000 && d < 3000, `delay ${d}`);
  assert.equal(await jitterBackoffStrategy(2, 'other', new Error('x'), job), 0);
});

function data(over: Partial<HandlerSpec> = {}): HandlerJobData {
  return { event: sampleEvent(), handler: { id: 'h1', key: 'local:zmq.test', driver: 'shell', command: 'x.sh', exclusive: false, ...over } };
}

test('job options - attempts are 1 + retries and backoff uses the jitter strategy; worker defaults fill gaps', () => {
  const defaults = { retries: 2, backoffMs: 1000 };
  const d = jobOptions(data(), defaults);
  assert.equal(d.attempts, 3);
  assert.deepEqual(d.backoff, { type: BACKOFF_TYPE, delay: 1000 });
  const own = jobOptions(data({ retries: 0, backoffMs: 50 }), defaults);
  assert.equal(own.attempts, 1);
  assert.deepEqual(own.backoff, { type: BACKOFF_TYPE, delay: 50 });
});

test('job options - failed jobs are kept until purged: the failed set is the dead-letter queue', () => {
  assert.equal(jobOptions(data(), { retries: 2, backoffMs: 1000 }).removeOnFail, false);
});
