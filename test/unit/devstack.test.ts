import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePort } from '../../src/devstack/free-port.js';
import { waitFor } from '../../src/devstack/wait-for.js';
import { ServiceError } from '../../src/errors.js';

test('devstack - freePort returns a port that can be bound on 127.0.0.1', async () => {
  const port = await freePort();
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `bad port ${port}`);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('devstack - freePort picks ports below the ephemeral range and never the same one twice', async () => {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
  assert.equal(new Set(ports).size, ports.length, 'ports are distinct');
  for (const p of ports) assert.ok(p >= 20_000 && p < low, `port ${p} is outside [20000, ${low})`);
});

test('devstack - waitFor resolves once the check turns true', async () => {
  let calls = 0;
  await waitFor(async () => ++calls >= 3, { timeoutMs: 5000, intervalMs: 1, what: 'third call' });
  assert.equal(calls, 3);
});

test('devstack - waitFor treats a throwing check as not ready yet', async () => {
  let calls = 0;
  await waitFor(
    async () => {
      calls++;
      if (calls < 3) throw new Error('connection refused');
      return true;
    },
    { timeoutMs: 5000, intervalMs: 1, what: 'flaky check' },
  );
  assert.equal(calls, 3);
});

test('devstack - waitFor times out with a ServiceError naming what it waited for', async () => {
  const cause = new Error('connection refused');
  await assert.rejects(
    waitFor(
      async () => {
        throw cause;
      },
      { timeoutMs: 50, intervalMs: 5, what: 'the moon' },
    ),
    (err: unknown) => {
      assert.ok(err instanceof ServiceError);
      assert.equal(err.code, 'ERR_SERVICE');
      assert.match(err.message, /timed out after 50 ms waiting for the moon/);
      assert.match(err.message, /connection refused/);
      assert.equal(err.cause, cause);
      return true;
    },
  );
});

test('devstack - waitFor does not wait past its deadline for a hanging check', async () => {
  const started = Date.now();
  await assert.rejects(
    waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 50, intervalMs: 5, what: 'a hanging check' }),
    /a hanging check/,
  );
  assert.ok(Date.now() - started < 2000, 'waitFor waited for the hanging check');
});

test('devstack - waitFor gives up at once when its signal aborts', async () => {
  const controller = new AbortController();
  const reason = new ServiceError('redis exited with code 1');
  setTimeout(() => controller.abort(reason), 20);
  const started = Date.now();
  await assert.rejects(
    waitFor(async () => false, { timeoutMs: 10_000, intervalMs: 1000, what: 'redis', signal: controller.signal }),
    (err: unknown) => {
      assert.ok(err instanceof ServiceError);
      assert.match(err.message, /gave up waiting for redis: redis exited with code 1/);
      assert.equal(err.cause, reason);
      return true;
    },
  );
  assert.ok(Date.now() - started < 2000, 'waitFor kept waiting after abort');
});

test('devstack - waitFor refuses a non-positive timeout or interval', async () => {
  const check = async (): Promise<boolean> => true;
  await assert.rejects(waitFor(check, { timeoutMs: 0, intervalMs: 10, what: 'x' }), RangeError);
  await assert.rejects(waitFor(check, { timeoutMs: 10, intervalMs: -1, what: 'x' }), /intervalMs/);
});
