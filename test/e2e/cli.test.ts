import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { freePort } from '../../src/devstack/free-port.js';
import { dropDatabase, useServices } from '../helpers/services.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';
import { NOT_BUILT, runBin, startBin, type Running } from '../helpers/bins.js';

let cfg: TestConfig;
let mongo: MongoClient;
let db: Db;
const daemons: Running[] = [];

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  await mongo?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();

const fire = (args: string[], input?: string) => runBin('fire-event', ['-u', `tcp://127.0.0.1:${cfg.ports.rep}`, ...args], {}, input);

before(async () => {
  if (NOT_BUILT) return;
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:cli.test': [
        { driver: 'shell', handler: 'echo-args.sh "two words"' },
        { driver: 'tsfunc', handler: 'sum.total' },
      ],
      'local:cli.fail': [{ driver: 'tsfunc', handler: 'sum.refuse', retries: 1, backoff: 0.05 }],
    },
    files: {
      'echo-args.sh': '#!/bin/sh\nprintf "%s|" "$@"\necho\n',
      'sum.ts':
        "export function total(e: { payload: { values?: number[] } }): number {\n  return (e.payload.values ?? []).reduce((a, b) => a + b, 0);\n}\nexport function refuse(): never {\n  throw new Error('no values today');\n}\n",
    },
    extra: { logging: { loglevel: 'INFO' } },
  });
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(cfg.database);
  for (const name of ['event-router', 'event-sub', 'event-worker']) {
    const d = startBin(name, ['-c', cfg.configFile]);
    daemons.push(d);
    await d.waitFor(/"msg":"started"/);
  }
  // PUB/SUB joins asynchronously: fire probes until one is archived.
  await eventually(async () => {
    const r = await fire(['-e', 'probe']);
    const id = JSON.parse(r.stdout).id as string;
    await new Promise((res) => setTimeout(res, 100));
    return db.collection('events').findOne({ _id: id as never });
  }, 'subscriber to join');
});

const resultsFor = (id: string, n: number) =>
  eventually(async () => {
    const rs = await db.collection('results').find({ event_id: id }).toArray();
    return rs.length >= n ? rs : undefined;
  }, `${n} results for ${id}`);

test('cli - fire-event (REQ) prints the published event; both handlers run and are archived', { skip: NOT_BUILT }, async () => {
  const r = await fire(['-e', 'cli.test', '-d', '{"values":[1,2,39]}']);
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.equal(e.event_type, 'cli.test');
  assert.equal(e.namespace, 'local');
  assert.ok(e.seq > 0 && e.epoch > 0);
  const rs = await resultsFor(e.id, 2);
  const shell = rs.find((x) => x['driver'] === 'shell')!;
  const ts = rs.find((x) => x['driver'] === 'tsfunc')!;
  assert.equal(shell['status'], 'ok');
  const args = String(shell['data']).trim().split('|');
  assert.equal(args[0], 'two words');
  assert.deepEqual(JSON.parse(args[1]!), e);
  assert.equal(ts['status'], 'ok');
  assert.equal(ts['data'], 42);
  const archived = await db.collection('events').findOne({ _id: e.id });
  assert.deepEqual(archived?.['payload'], { values: [1, 2, 39] });
});

test('cli - fire-event reads the payload from @file and from stdin, and PUSH mode delivers', { skip: NOT_BUILT }, async () => {
  const file = join(cfg.dir, 'payload.json');
  writeFileSync(file, '{"values":[5]}');
  const fromFile = await fire(['-e', 'cli.test', '-d', `@${file}`]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  const fromStdin = await fire(['-e', 'cli.test', '-p', '-'], '{"values":[6]}');
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  const pushed = await runBin('fire-event', ['-z', 'PUSH', '-u', `tcp://127.0.0.1:${cfg.ports.pull}`, '-e', 'cli.test', '-d', '{"values":[7]}']);
  assert.equal(pushed.code, 0, pushed.stderr);
  const ids = [fromFile, fromStdin, pushed].map((r) => JSON.parse(r.stdout).id as string);
  const totals = await Promise.all(ids.map(async (id) => (await resultsFor(id, 2)).find((x) => x['driver'] === 'tsfunc')!['data']));
  assert.deepEqual(totals, [5, 6, 7]);
});

test('cli - fire-event explains refusals: bad JSON payload, router refusal, bad zmq type, missing -e', { skip: NOT_BUILT }, async () => {
  const badJson = await fire(['-e', 'x', '-d', '{oops']);
  assert.equal(badJson.code, 65);
  assert.match(badJson.stderr, /payload from --data is not valid JSON/);
  const refused = await fire(['-e', 'x', '-n', 'has:colon']);
  assert.equal(refused.code, 65);
  assert.match(refused.stderr, /router refused the event \(bad_namespace\)/);
  assert.equal(JSON.parse(refused.stdout).error.code, 'bad_namespace');
  const badType = await fire(['-e', 'x', '-z', 'DEALER']);
  assert.equal(badType.code, 64);
  assert.match(badType.stderr, /REQ or PUSH/);
  const noType = await fire([]);
  assert.equal(noType.code, 64);
  assert.match(noType.stderr, /--event-type/);
});

test(
  'cli - fire-event --parent-event from a handler run joins its trace and counts one hop more; past router.max_hops the router refuses',
  { skip: NOT_BUILT },
  async () => {
    // What a shell handler's environment holds for its event (EVENT_ID, EVENT_TRACE_ID, EVENT_HOPS).
    const run = { EVENT_ID: 'parent-1', EVENT_TRACE_ID: 'trace-1', EVENT_HOPS: '3' };
    const child = await runBin('fire-event', ['-u', `tcp://127.0.0.1:${cfg.ports.rep}`, '-e', 'cli.child', '--parent-event', 'parent-1'], run);
    assert.equal(child.code, 0, child.stderr);
    const published = JSON.parse(child.stdout) as { parent_event: string; trace_id: string; hops: number };
    assert.deepEqual([published.parent_event, published.trace_id, published.hops], ['parent-1', 'trace-1', 4]);
    // Outside a run of that event: one hop from a feeder, its own trace.
    const other = JSON.parse((await fire(['-e', 'cli.child', '--parent-event', 'someone-else'])).stdout) as { id: string; trace_id: string; hops: number };
    assert.deepEqual([other.trace_id, other.hops], [other.id, 1]);
    const looping = await runBin('fire-event', ['-u', `tcp://127.0.0.1:${cfg.ports.rep}`, '-e', 'cli.child', '--parent-event', 'parent-1'], {
      ...run,
      EVENT_HOPS: '8',
    });
    assert.equal(looping.code, 65);
    assert.match(looping.stderr, /too_many_hops/);
  },
);

test('cli - fire-event with no router exits 75 after --timeout instead of hanging', { skip: NOT_BUILT }, async () => {
  const port = await freePort();
  const r = await runBin('fire-event', ['-u', `tcp://127.0.0.1:${port}`, '-e', 'x', '--timeout', '0.5', '--retries', '1']);
  assert.equal(r.code, 75);
  assert.match(r.stderr, /no reply from the router at tcp:\/\/127\.0\.0\.1:\d+ within 500 ms \(2 tries\)/);
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
});

test('cli - configuration errors exit 78 naming file and key path; check-config lists all', { skip: NOT_BUILT }, async () => {
  const bad = join(cfg.dir, 'bad-config.json');
  writeFileSync(bad, JSON.stringify({ outputs: [{ handler: 'zeromq', config: { port: 'nope' } }], worker: { concurrency: -1 } }));
  const router = await runBin('event-router', ['-c', bad]);
  assert.equal(router.code, 78);
  assert.match(router.stderr, new RegExp(`${bad}: outputs\\[0\\]\\.config\\.port: `));
  const check = await runBin('event-reactor', ['check-config', '-c', bad]);
  assert.equal(check.code, 78);
  assert.match(check.stderr, /outputs\[0\]\.config\.port/);
  assert.match(check.stderr, /worker\.concurrency/);
  const handlers = join(cfg.dir, 'bad-handlers.json');
  writeFileSync(handlers, JSON.stringify({ 'local:x': [{ driver: 'ruby', handler: 'x' }], nocolon: [] }));
  const check2 = await runBin('event-reactor', ['check-config', '-c', cfg.configFile, '--handlers', handlers]);
  assert.equal(check2.code, 78);
  assert.match(check2.stderr, /local:x\[0\]\.driver: unknown driver "ruby"/);
  assert.match(check2.stderr, /"nocolon": key must be "namespace:event_type"/);
  const missing = await runBin('event-worker', ['-c', join(cfg.dir, 'absent.json')]);
  assert.equal(missing.code, 78);
  assert.match(missing.stderr, /absent\.json: file not found/);
});

test('cli - check-config accepts the shipped samples', { skip: NOT_BUILT }, async () => {
  const r = await runBin('event-reactor', ['check-config', '-c', 'etc/config.json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /configuration OK: \d+ event keys/);
});

test('cli - status shows the router position, archive counts, the cursor and no lost events', { skip: NOT_BUILT }, async () => {
  const r = await runBin('event-reactor', ['status', '-c', cfg.configFile, '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const s = JSON.parse(r.stdout);
  assert.ok(s.router.epoch > 0 && s.router.last_seq > 0);
  assert.ok(s.archive.events >= 5);
  assert.ok(s.archive.results.ok >= 2);
  assert.equal(s.archive.gaps.lost, 0);
  const cursor = s.archive.cursors.find((c: { name: string }) => c.name === 'default');
  assert.equal(cursor.epoch, s.router.epoch);
  assert.ok(s.queues.counts[cfg.queue], 'the queue of before per-entry queues is still read');
  // One queue per handler entry, each listed with its entry.
  const entries = s.queues.entries as { queue: string; key: string; handler: string }[];
  assert.ok(entries.length > 0 && entries.every((e) => s.queues.counts[e.queue] && e.queue.startsWith(`${cfg.queue}.h.`)));
  const text = await runBin('event-reactor', ['status', '-c', cfg.configFile]);
  assert.match(text.stdout, /gaps {6}none: no event lost/);
  assert.match(text.stdout, new RegExp(`queue {5}${cfg.queue}\\.h\\.[0-9a-f]{16} \\(local:\\S+ \\w+:\\S+; no policy\\): waiting \\d+`));
});

test('cli - dlq lists, shows, retries and purges a job that failed every attempt', { skip: NOT_BUILT }, async () => {
  const c = ['-c', cfg.configFile];
  const fired = await fire(['-e', 'cli.fail']);
  assert.equal(fired.code, 0, fired.stderr);
  const eventId = JSON.parse(fired.stdout).id as string;
  const line = await eventually(async () => {
    const r = await runBin('event-reactor', ['dlq', 'list', ...c]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').find((l) => l.includes('local:cli.fail'));
  }, 'dead job listed');
  const [jobId, key, handler, attempts, , reason] = line.split('\t');
  assert.equal(key, 'local:cli.fail');
  assert.equal(handler, 'tsfunc:sum.refuse');
  assert.equal(attempts, 'attempts=2');
  assert.match(reason!, /no values today/);

  const shown = await runBin('event-reactor', ['dlq', 'show', jobId!, ...c]);
  assert.equal(shown.code, 0, shown.stderr);
  const doc = JSON.parse(shown.stdout);
  assert.equal(doc.event.id, eventId);
  assert.deepEqual(
    doc.results.map((r: { attempt: number; dead?: boolean }) => [r.attempt, r.dead ?? false]),
    [
      [1, false],
      [2, true],
    ],
  );

  assert.equal((await runBin('event-reactor', ['dlq', 'retry', ...c])).code, 64, 'neither a job id nor --all');
  const missing = await runBin('event-reactor', ['dlq', 'show', 'no-such-job', ...c]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no dead job with id "no-such-job"/);

  const retried = await runBin('event-reactor', ['dlq', 'retry', jobId!, ...c]);
  assert.equal(retried.code, 0, retried.stderr);
  assert.match(retried.stdout, /retried 1 job/);
  await eventually(async () => (await db.collection('results').countDocuments({ job_id: jobId })) === 4, 'two more runs after the retry');
  await eventually(async () => (await runBin('event-reactor', ['dlq', 'list', ...c])).stdout.includes(jobId!), 'dead again');
  const purged = await runBin('event-reactor', ['dlq', 'purge', '--all', ...c]);
  assert.equal(purged.code, 0, purged.stderr);
  assert.match(purged.stdout, /purged [1-9]\d* job/);
  assert.ok(!(await runBin('event-reactor', ['dlq', 'list', ...c])).stdout.includes(jobId!));
  assert.equal(await db.collection('results').countDocuments({ job_id: jobId }), 4, 'results stay in MongoDB');
});

test('cli - SIGTERM stops each daemon cleanly within a few seconds', { skip: NOT_BUILT }, async () => {
  for (const d of [...daemons].reverse()) {
    const started = Date.now();
    d.child.kill('SIGTERM');
    assert.equal(await d.exited, 0, d.output().slice(-2000));
    assert.ok(Date.now() - started < 10_000);
    assert.match(d.output(), /"msg":"shutting down"/);
  }
  const down = await runBin('event-reactor', ['status', '-c', cfg.configFile]);
  assert.equal(down.code, 69);
  assert.match(down.stdout, /router .*UNREACHABLE/);
});
