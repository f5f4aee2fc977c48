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
