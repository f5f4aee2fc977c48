import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { dropDatabase, useServices } from '../helpers/services.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';
import { NOT_BUILT, runBin, startBin, type Running } from '../helpers/bins.js';

let cfg: TestConfig;
const daemons: Running[] = [];

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();

/** fire-event --wait as an operator runs it: endpoints and archive from the config file. */
const fireWait = (args: string[]) => runBin('fire-event', ['-c', cfg.configFile, ...args]);
const lines = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

before(async () => {
  if (NOT_BUILT) return;
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:wait.ok': [
        { driver: 'shell', handler: 'ok.sh' },
        { driver: 'tsfunc', handler: 'w.answer' },
      ],
      'local:wait.fail': [{ driver: 'shell', handler: 'fail.sh', retries: 0 }],
      'local:wait.slow': [{ driver: 'shell', handler: 'slow.sh' }],
    },
    files: {
      'ok.sh': '#!/bin/sh\necho fine\n',
      'fail.sh': '#!/bin/sh\necho broken >&2\nexit 3\n',
      'slow.sh': '#!/bin/sh\nsleep 5\n',
      'w.ts': 'export function answer(): number {\n  return 42;\n}\n',
    },
    extra: { logging: { loglevel: 'INFO' } },
  });
  for (const name of ['event-router', 'event-sub', 'event-worker']) {
    const d = startBin(name, ['-c', cfg.configFile]);
    daemons.push(d);
    await d.waitFor(/"msg":"started"/);
  }
  // PUB/SUB joins asynchronously: fire probes until one is archived.
  const mongo = new MongoClient(await services.mongoUrl());
  try {
    await eventually(async () => {
      const id = JSON.parse((await runBin('fire-event', ['-c', cfg.configFile, '-e', 'probe'])).stdout).id as string;
      await new Promise((res) => setTimeout(res, 100));
      return mongo
        .db(cfg.database)
        .collection('events')
        .findOne({ _id: id as never });
    }, 'subscriber to join');
  } finally {
    await mongo.close();
  }
});

test('fire-wait - every handler ok: one result line each on stdout, exit 0', { skip: NOT_BUILT }, async () => {
  const r = await fireWait(['--wait', '20', '-e', 'wait.ok']);
  assert.equal(r.code, 0, r.stderr);
  const results = lines(r.stdout);
  assert.equal(results.length, 2, r.stdout);
  assert.deepEqual(
    results.map((x) => x['status']),
    ['ok', 'ok'],
  );
  assert.deepEqual(new Set(results.map((x) => x['driver'])), new Set(['shell', 'tsfunc']));
  assert.match(r.stderr, /published .*"event_type":"wait\.ok"/);
});

test('fire-wait - a handler dead after its last attempt: its result printed, exit 1', { skip: NOT_BUILT }, async () => {
  const r = await fireWait(['--wait', '20', '-e', 'wait.fail']);
  assert.equal(r.code, 1, r.stderr);
  const [dead, ...rest] = lines(r.stdout);
  assert.equal(rest.length, 0);
  assert.equal(dead?.['status'], 'error');
  assert.equal(dead?.['dead'], true);
  assert.match(r.stderr, /1 of 1 handler\(s\) failed: fail\.sh/);
});

test('fire-wait - a handler still running at the deadline: exit 75, named on stderr', { skip: NOT_BUILT }, async () => {
  const r = await fireWait(['--wait', '1', '-e', 'wait.slow']);
  assert.equal(r.code, 75, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /timed out after 1 s; no final result yet from: slow\.sh/);
});

test('fire-wait - no handler matches: nothing on stdout, exit 0 without waiting', { skip: NOT_BUILT }, async () => {
  const r = await fireWait(['--wait', '5', '-e', 'nothing.matches']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /no handler runs: no handler entry matches its key/);
  assert.ok(r.ms < 4000, `took ${r.ms} ms`);
});

test('fire-wait - refused with PUSH, without a config, or with a bad number of seconds: exit 64', { skip: NOT_BUILT }, async () => {
  const push = await fireWait(['-z', 'PUSH', '--wait', '-e', 'wait.ok']);
  assert.equal(push.code, 64);
  assert.match(push.stderr, /--wait needs -z REQ/);
  const noConfig = await runBin('fire-event', ['--wait', '-e', 'wait.ok'], { EVENT_REACTOR_CONFIG: '' });
  assert.equal(noConfig.code, 64);
  assert.match(noConfig.stderr, /needs -c config\.json or \$EVENT_REACTOR_CONFIG/);
  const zero = await fireWait(['--wait', '0', '-e', 'wait.ok']);
  assert.equal(zero.code, 64, 'a usage error, not an internal one');
  assert.match(zero.stderr, /--wait \[seconds\]' argument '0' is invalid/);
});
