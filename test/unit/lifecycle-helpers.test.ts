import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelay } from '../../src/lifecycle/retry-delay.js';
import { redact } from '../../src/redact.js';
import { settlesWithin } from '../../src/lifecycle/settles-within.js';

test('retry delay - 200 ms doubling, capped, never NaN or 0', () => {
  assert.deepEqual(
    [1, 2, 3, 4].map((a) => retryDelay(a)),
    [200, 400, 800, 1600],
  );
  assert.equal(retryDelay(100), 10_000);
  assert.equal(retryDelay(1e9, 5000), 5000);
  assert.equal(retryDelay(0), 200);
});

test('redact - hides the password of a connection string, keeps the rest', () => {
  assert.equal(redact('mongodb://app:s3cr%40t@db:27017/x'), 'mongodb://app:***@db:27017/x');
  assert.equal(redact('redis://:pw@127.0.0.1:6379'), 'redis://:***@127.0.0.1:6379');
  assert.equal(redact('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
});

test('settlesWithin - true when the work settles in time (resolved or rejected), false when it does not', async () => {
  assert.equal(await settlesWithin(Promise.resolve(1), 50), true);
  assert.equal(await settlesWithin(Promise.reject(new Error('x')), 50), true);
  assert.equal(await settlesWithin(new Promise(() => undefined), 20), false);
});
