import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batcher } from '../../src/lifecycle/batcher.js';

test('batcher - flushes at maxItems and on drain, in order', async () => {
  const batches: number[][] = [];
  const b = new Batcher<number>({ maxItems: 3, maxDelayMs: 10_000, flush: async (xs) => void batches.push([...xs]), onError: () => undefined });
  for (let i = 1; i <= 7; i++) b.add(i);
  await b.drain();
  assert.deepEqual(batches.flat(), [1, 2, 3, 4, 5, 6, 7]);
  assert.ok(batches.every((x) => x.length <= 3));
});

test('batcher - flushes after maxDelayMs', async () => {
  let flushed: number[] = [];
  const b = new Batcher<number>({ maxItems: 100, maxDelayMs: 5, flush: async (xs) => void (flushed = xs), onError: () => undefined });
  b.add(1);
  const deadline = Date.now() + 2000;
  while (flushed.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(flushed, [1]);
});

test('batcher - a failed flush is retried with the same items, nothing lost', async () => {
  let calls = 0;
  const seen: number[][] = [];
  const errors: number[] = [];
  const b = new Batcher<number>({
    maxItems: 10,
    maxDelayMs: 1,
    maxBackoffMs: 5,
    flush: async (xs) => {
      calls++;
      seen.push([...xs]);
      if (calls < 3) throw new Error('store down');
    },
    onError: (_e, items, attempt) => errors.push(attempt * 100 + items),
  });
  b.add(1);
  b.add(2);
  await b.drain();
  assert.equal(calls, 3);
  assert.deepEqual(seen, [
    [1, 2],
    [1, 2],
    [1, 2],
  ]);
  assert.deepEqual(errors, [102, 202]);
  assert.equal(b.buffered, 0);
});

test('batcher - after runs once each flush is done, one batch at a time and in order', async () => {
  const log: string[] = [];
  const b = new Batcher<number>({
    maxItems: 2,
    maxDelayMs: 10_000,
    flush: async (xs) => void log.push(`flush ${xs.join(',')}`),
    after: async (xs) => {
      log.push(`after ${xs.join(',')} start`);
      await new Promise((r) => setTimeout(r, 5));
      log.push(`after ${xs.join(',')} end`);
    },
    onError: () => undefined,
  });
  for (let i = 1; i <= 6; i++) b.add(i);
  await b.drain();
  const afters = log.filter((l) => l.startsWith('after'));
  assert.deepEqual(afters, ['after 1,2 start', 'after 1,2 end', 'after 3,4 start', 'after 3,4 end', 'after 5,6 start', 'after 5,6 end']);
  for (const batch of ['1,2', '3,4', '5,6']) assert.ok(log.indexOf(`flush ${batch}`) < log.indexOf(`after ${batch} start`), `flush ${batch} before its after`);
  assert.equal(b.buffered, 0);
});

test('batcher - the next batch is flushed while the previous one is in after', async () => {
  let releaseAfter: () => void = () => undefined;
  const afterGate = new Promise<void>((r) => (releaseAfter = r));
  const flushed: number[][] = [];
  const b = new Batcher<number>({
    maxItems: 2,
    maxDelayMs: 10_000,
    flush: async (xs) => void flushed.push([...xs]),
    after: async (xs) => {
      if (xs[0] === 1) await afterGate;
    },
    onError: () => undefined,
  });
  b.add(1);
  b.add(2);
  b.add(3);
  b.add(4);
  const deadline = Date.now() + 2000;
  while (flushed.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  assert.deepEqual(flushed, [
    [1, 2],
    [3, 4],
  ]);
  assert.equal(b.buffered, 4, 'the batch in after and the one waiting for it');
  releaseAfter();
  await b.drain();
  assert.equal(b.buffered, 0);
});

test('batcher - a failed after is retried on its own; the batch is not flushed again', async () => {
  let flushes = 0;
  let afters = 0;
  const errors: string[] = [];
  const b = new Batcher<number>({
    maxItems: 10,
    maxDelayMs: 1,
    maxBackoffMs: 5,
    flush: async () => void flushes++,
    after: async () => {
      afters++;
      if (afters < 3) throw new Error('queue down');
    },
    onError: (_e, items, attempt, step) => errors.push(`${step} ${attempt} ${items}`),
  });
  b.add(1);
  b.add(2);
  await b.drain();
  assert.equal(flushes, 1);
  assert.equal(afters, 3);
  assert.deepEqual(errors, ['after 1 2', 'after 2 2']);
  assert.equal(b.buffered, 0);
});
