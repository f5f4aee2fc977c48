import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient, type Document } from 'mongodb';
import { NOT_BUILT, ROOT, runBin } from '../helpers/bins.js';
import { writeTestConfig, eventually, type TestConfig } from '../helpers/config.js';
import { NETNS_SKIP, NetHost, freeSubnet } from '../helpers/netns.js';
import { Proc } from '../faults/helpers/processes.js';
import { RestartableServer } from '../faults/helpers/servers.js';

/**
 * Actors on other hosts: two actor workers (`--actor --host-name h1|h2`), each in a network
 * namespace of its own linked to this host by a veth pair, against a Redis and a FerretDB
 * of this test listening on every address; the router, the subscriber and a plain worker
 * run here. The handler prints the addresses of the host it runs on, so each result says
 * where it ran.
 */
const skip = NETNS_SKIP || NOT_BUILT;

const WHERE_SH = '#!/bin/sh\nip -4 -o addr show\n';
/** worker.actor_wait in the test, seconds. */
const ACTOR_WAIT_S = 8;

let redis: RestartableServer | undefined;
let mongo: RestartableServer | undefined;
let cfg: TestConfig;
let client: MongoClient;
const hosts: NetHost[] = [];
const procs: Proc[] = [];
// test/run.ts's REDIS_URL and MONGO_URL would win over config.json: this test has servers of its own.
const OWN_SERVERS = { REDIS_URL: '', MONGO_URL: '' };
const actors = new Map<string, { host: NetHost; proc: Proc }>();

function daemon(name: string, bin: string, args: string[] = [], host?: NetHost): Proc {
  const argv = [join(ROOT, 'bin', bin), '-c', cfg.configFile, '-l', 'INFO', ...args];
  const { command, args: full } = host ? host.command(process.execPath, argv) : { command: process.execPath, args: argv };
  const p = new Proc({ name, command, args: full, cwd: ROOT, env: OWN_SERVERS, logFile: join(cfg.dir, `${name}.log`) });
  procs.push(p);
  return p;
}

async function start(p: Proc): Promise<void> {
  p.start();
  await p.waitForLine(/"msg":"started"/);
}

before(async () => {
  if (skip) return;
  [redis, mongo] = await Promise.all([RestartableServer.redis({ listenAll: true }), RestartableServer.mongo({ listenAll: true })]);
  const subnet = freeSubnet();
  cfg = await writeTestConfig({
    redisUrl: redis.url,
    mongoUrl: mongo.url,
    handlers: {
      'local:act.one': [{ driver: 'shell', handler: 'where.sh', target: '{{payload.host}}', retries: 0 }],
      'local:act.all': [{ driver: 'shell', handler: 'where.sh', target: 'all', retries: 0 }],
    },
    files: { 'where.sh': WHERE_SH },
    extra: { worker: { concurrency: 4, timeout: 20, actor_wait: ACTOR_WAIT_S, lock_duration: 5 } },
  });
  client = new MongoClient(mongo.url);
  for (const p of [daemon('event-router', 'event-router'), daemon('event-sub', 'event-sub'), daemon('event-worker', 'event-worker')]) await start(p);
  for (const [i, name] of ['h1', 'h2'].entries()) {
    const host = NetHost.create(subnet, i);
    hosts.push(host);
    const proc = daemon(
      `event-worker-${name}`,
      'event-worker',
      ['--actor', '--host-name', name, '--redis-url', redis.urlFor(host.hostAddr), '--mongo-url', mongo.urlFor(host.hostAddr)],
      host,
    );
    actors.set(name, { host, proc });
    await start(proc);
  }
});

after(async () => {
  for (const p of procs.reverse()) await p.stop(10_000).catch(() => undefined);
  for (const h of hosts) h.destroySync();
  await client?.close();
  await Promise.all([redis?.destroy(), mongo?.destroy()]);
  // The daemons' logs are in it: TEST_KEEP_LOGS=1 keeps them.
  if (cfg && !process.env['TEST_KEEP_LOGS']) rmSync(cfg.dir, { recursive: true, force: true });
  else if (cfg) process.stderr.write(`actors: daemon logs kept in ${cfg.dir}\n`);
});

async function fire(eventType: string, payload: Record<string, unknown>): Promise<string> {
  const r = await runBin('fire-event', ['-u', `tcp://127.0.0.1:${cfg.ports.rep}`, '-e', eventType, '-d', JSON.stringify(payload)], OWN_SERVERS);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

/** The results of `eventId` once there are `n` (and no more come within a second). */
async function results(eventId: string, n: number, timeoutMs = 20_000): Promise<Document[]> {
  const coll = client.db(cfg.database).collection('results');
  await eventually(async () => (await coll.countDocuments({ event_id: eventId })) >= n, `${n} result(s) of ${eventId}`, timeoutMs);
  await new Promise((r) => setTimeout(r, 1000));
  return coll.find({ event_id: eventId }).sort({ job_id: 1 }).toArray();
}

const ranOn = (r: Document, name: string): boolean => String(r['data']).includes(`${actors.get(name)!.host.addr}/30`);

test('actors - status lists both actor workers as live', { skip }, async () => {
  const r = await runBin('event-reactor', ['status', '--json', '-c', cfg.configFile], OWN_SERVERS);
  const report = JSON.parse(r.stdout) as { actors: { list: { name: string; live: boolean }[] } };
  assert.deepEqual(
    report.actors.list.filter((a) => a.live).map((a) => a.name),
    ['h1', 'h2'],
  );
  const text = await runBin('event-reactor', ['status', '-c', cfg.configFile], OWN_SERVERS);
  assert.match(text.stdout, /actors {4}2 live: h1 \(beat [\d.]+ s ago\), h2/);
});

test('actors - an event naming h1 runs only on h1', { skip }, async () => {
  const id = await fire('act.one', { host: 'h1' });
  const [only, ...more] = await results(id, 1);
  assert.equal(more.length, 0);
  assert.equal(only!['status'], 'ok', JSON.stringify(only));
  assert.equal(only!['actor'], 'h1');
  assert.ok(ranOn(only!, 'h1') && !ranOn(only!, 'h2'), `ran on h1's host: ${String(only!['data'])}`);
});

test('actors - "all" runs once on each live actor, each job id naming it', { skip }, async () => {
  const id = await fire('act.all', {});
  const rs = await results(id, 2);
  assert.equal(rs.length, 2);
  assert.deepEqual(
    rs.map((r) => [r['status'], r['actor'], String(r['job_id']).endsWith(`@${String(r['actor'])}`)]),
    [
      ['ok', 'h1', true],
      ['ok', 'h2', true],
    ],
  );
  assert.ok(ranOn(rs[0]!, 'h1') && ranOn(rs[1]!, 'h2'));
});

test('actors - an event naming an absent host is dead-lettered with ERR_NO_ACTOR after worker.actor_wait', { skip }, async () => {
  const fired = Date.now();
  const id = await fire('act.one', { host: 'h9' });
  const [dead, ...more] = await results(id, 1, 30_000);
  assert.equal(more.length, 0);
  assert.equal(dead!['dead'], true);
  assert.equal(dead!['error_code'], 'ERR_NO_ACTOR');
  assert.match(String(dead!['error']), /no live actor "h9"/);
  assert.ok(new Date(dead!['end'] as Date).getTime() - fired >= (ACTOR_WAIT_S - 0.5) * 1000, 'not before the wait');
  const dlq = await runBin('event-reactor', ['dlq', 'list', '--json', '-c', cfg.configFile], OWN_SERVERS);
  assert.equal(dlq.code, 0, dlq.stderr);
  assert.ok(
    (JSON.parse(dlq.stdout) as { job_id: string }[]).some((j) => j.job_id === dead!['job_id']),
    `the dead job is in the dead-letter queue: ${dlq.stdout}`,
  );
});

test('actors - a target the event cannot fill is a dead result naming the path', { skip }, async () => {
  const id = await fire('act.one', { other: 1 });
  const [dead] = await results(id, 1);
  assert.equal(dead!['dead'], true);
  assert.match(String(dead!['error']), /no value at \{\{payload\.host\}\}/);
});

test('actors - a job for an actor that is restarting waits for it and runs there', { skip }, async () => {
  const h2 = actors.get('h2')!;
  await h2.proc.stop();
  const id = await fire('act.one', { host: 'h2' });
  await start(h2.proc);
  const [only, ...more] = await results(id, 1);
  assert.equal(more.length, 0);
  assert.equal(only!['status'], 'ok', JSON.stringify(only));
  assert.ok(ranOn(only!, 'h2'));
});
