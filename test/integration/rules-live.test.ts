import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, type Db } from 'mongodb';
import { startRouterDaemon, type RouterDaemon } from '../../src/daemons/router-daemon.js';
import { startSubDaemon, type SubDaemon } from '../../src/daemons/sub-daemon.js';
import { startWorkerDaemon, type WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { silentLogger } from '../../src/logger.js';
import { metricValue } from '../../src/metrics.js';
import { dropDatabase, useServices } from '../helpers/services.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

// The rules as the subscriber and the workers run them: through the real router, Redis
// (registers, throttles, debounces, correlations), the archive and shell handlers.

after(async () => {
  client?.close();
  await router?.close();
  await sub?.close();
  await worker?.close();
  await mongo?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();
let cfg: TestConfig;
let router: RouterDaemon;
let sub: SubDaemon;
let worker: WorkerDaemon;
let client: RouterClient;
let mongo: MongoClient;
let db: Db;

const HANDLERS = {
  'local:disk.*': [
    {
      driver: 'shell',
      handler: 'argv.sh --mount {{payload.mount}} --host {{payload.host}}',
      when: { payload: { used: [{ numeric: ['>=', 90] }], mount: [{ prefix: '/var' }] } },
    },
  ],
  '*:load.report': [
    {
      driver: 'shell',
      handler: 'argv.sh scale-up {{payload.host}}',
      if: { register: 'load', agg: 'avg', op: '>', value: 4, min_samples: 3 },
      throttle: { once_per: 300, by: 'payload.host' },
    },
  ],
  'local:load.note': [{ driver: 'tsfunc', handler: 'regs.note', retries: 0 }],
  'local:flap': [{ driver: 'shell', handler: 'argv.sh settled {{payload.n}}', debounce: { quiet: 1, by: 'payload.svc' } }],
  'ci:deploy.completed': [{ driver: 'shell', handler: 'argv.sh completed {{payload.group}}' }],
  registers: { load: { key: '*:load.*', value: 'payload.load1', window: 60, by: 'payload.host' } },
  correlations: {
    'deploy.done': { all: ['ci:deploy.started', 'ci:deploy.finished'], within: 600, by: 'payload.deploy_id', emit: 'ci:deploy.completed' },
  },
};

before(async () => {
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: HANDLERS,
    // Each run's argv (after the program), one JSON line per run; the event JSON is the last argument.
    files: {
      // Reads the host's load register, adds a sample, and tries a register that is not there.
      'regs.ts': `type Regs = { get(n: string, o?: object): Promise<unknown>; add(n: string, v: number, o?: object): Promise<unknown> };
export async function note(e: unknown, ctx: { registers: Regs }) {
  const before = await ctx.registers.get('load');
  const after = await ctx.registers.add('load', 1);
  const other = await ctx.registers.get('load', { group: 'elsewhere' });
  const unknown = await ctx.registers.get('nope').then(() => '', (err: Error) => err.message);
  return { before, after, other, unknown };
}
`,
      'argv.sh':
        '#!/bin/sh\nn=$#\ni=0\nout=""\nfor a; do i=$((i+1)); [ $i -lt $n ] && out="$out|$a"; done\nprintf "%s\\n" "$out" >> "$(dirname "$0")/argv.log"\n',
    },
  });
  const log = silentLogger();
  router = await startRouterDaemon(cfg.settings, log);
  sub = await startSubDaemon(cfg.settings, log);
  worker = await startWorkerDaemon(cfg.settings, log);
  client = new RouterClient({ uri: router.endpoints.rep[0]!, timeoutMs: 5000 });
  mongo = new MongoClient(await services.mongoUrl());
  db = mongo.db(cfg.database);
  await eventually(async () => {
    const probe = await client.send({ event_type: 'probe' });
    return eventually(() => db.collection('events').findOne({ _id: probe.id as never }), 'probe archived', 300).catch(() => null);
  }, 'subscriber to join');
});

const runs = (): string[] => {
  try {
    return readFileSync(`${cfg.handlersDir}/argv.log`, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};
const decisionsOf = async (id: string): Promise<Record<string, unknown>[]> => {
  const doc = await eventually(() => db.collection('events').findOne({ _id: id as never }), `event ${id} archived`);
  return doc['decisions'] as Record<string, unknown>[];
};

test('rules live - a glob key with a content pattern runs with templated argv; a mismatch is archived with the field that failed', async () => {
  const hit = await client.send({ event_type: 'disk.full', payload: { used: 95, mount: '/var/lib; rm -rf /', host: 'db 1' } });
  const miss = await client.send({ event_type: 'disk.full', payload: { used: 80, mount: '/var', host: 'db2' } });
  await eventually(async () => runs().some((r) => r.includes('db 1')), 'the matching event ran');
  // Each placeholder is one argv element, whatever it holds.
  assert.ok(runs().includes('|--mount|/var/lib; rm -rf /|--host|db 1'), runs().join('\n'));
  const [ran] = await decisionsOf(hit.id);
  assert.deepEqual([ran!['key'], ran!['run']], ['local:disk.*', true]);
  const [skipped] = await decisionsOf(miss.id);
  assert.equal(skipped!['run'], false);
  assert.equal(skipped!['stage'], 'when');
  assert.match(String(skipped!['reason']), /payload\.used is 80/);
  assert.equal(await db.collection('results').countDocuments({ event_id: miss.id }), 0);
});

test('rules live - a templated path the event lacks is an error result naming it, never an empty argument', async () => {
  const e = await client.send({ event_type: 'disk.full', payload: { used: 99, mount: '/var/x' } });
  const r = await eventually(() => db.collection('results').findOne({ event_id: e.id }), 'error result');
  assert.equal(r['status'], 'error');
  assert.match(String(r['error']), /payload\.host/);
  assert.equal(r['dead'], true, 'not retried: the event will not grow the field');
});

test('rules live - a register condition gates a handler until enough samples agree; the throttle lets one run per host', async () => {
  const host = `h-${Date.now()}`;
  const ids: string[] = [];
  for (const load1 of [5, 6, 7, 8, 9]) ids.push((await client.send({ event_type: 'load.report', payload: { host, load1 } })).id);
  await eventually(async () => (await db.collection('events').countDocuments({ _id: { $in: ids } as never })) === 5, 'five archived');
  const stages = await Promise.all(ids.map(async (id) => (await decisionsOf(id))[0]));
  assert.deepEqual(
    stages.map((d) => (d!['run'] ? 'run' : d!['stage'])),
    ['if', 'if', 'run', 'throttle', 'throttle'],
  );
  assert.match(String(stages[0]!['reason']), /1 of 3 samples needed/);
  await eventually(async () => runs().filter((r) => r === `|scale-up|${host}`).length === 1, 'one scale-up run');

  // A tsfunc handler reads the same register for the event's host (ctx.registers) and adds to it.
  const note = await client.send({ event_type: 'load.note', payload: { host } });
  const r = await eventually(() => db.collection('results').findOne({ event_id: note.id }), 'the tsfunc result');
  assert.equal(r['status'], 'ok', String(r['error']));
  const data = r['data'] as Record<string, Record<string, unknown>> & { unknown: string };
  assert.deepEqual([data.before!['group'], data.before!['count'], data.before!['avg'], data.before!['max']], [host, 5, 7, 9]);
  assert.deepEqual([data.after!['count'], data.after!['last']], [6, 1]);
  assert.deepEqual([data.other!['count'], data.other!['avg']], [0, null]);
  assert.match(data.unknown, /no register "nope" in event-handlers.json \(registers: load\)/);
});

test('rules live - a debounce runs once, for the last event of a burst, after the quiet period', async () => {
  const svc = `svc-${Date.now()}`;
  for (let n = 1; n <= 4; n++) await client.send({ event_type: 'flap', payload: { svc, n } });
  await eventually(async () => runs().includes('|settled|4'), 'the last event ran', 15_000);
  await sleep(1500);
  assert.deepEqual(
    runs().filter((r) => r.startsWith('|settled|')),
    ['|settled|4'],
  );
  assert.ok((await metricValue(worker.registry, 'worker_jobs_superseded_total')) >= 3);
});

test('rules live - a correlation fires its event through the router once both keys are seen, with parent_event, correlated ids and one more hop', async () => {
  {
    const dep = `d-${Date.now()}`;
    const started = await client.send({ namespace: 'ci', event_type: 'deploy.started', payload: { deploy_id: dep } });
    const finished = await client.send({ namespace: 'ci', event_type: 'deploy.finished', payload: { deploy_id: dep } });
    const emitted = await eventually(
      () => db.collection('events').findOne({ key: 'ci:deploy.completed', parent_event: finished.id }),
      'correlation event archived',
    );
    assert.deepEqual(emitted['correlated'], [started.id, finished.id]);
    assert.equal(emitted['hops'], 1);
    assert.equal(emitted['trace_id'], finished.trace_id);
    const d = await decisionsOf(finished.id);
    assert.deepEqual(
      d.map((x) => x['correlation']),
      ['deploy.done'],
    );
    await eventually(async () => runs().includes(`|completed|${dep}`), 'the emitted key ran its handler');
  }
});

test('rules live - a changed handler file is reloaded by both daemons; a broken one keeps the running table', async () => {
  const before = sub.http.url;
  const hashOf = async (url: string): Promise<string> => ((await (await fetch(`${url}/healthz`)).json()) as { handlers: string }).handlers;
  const old = await hashOf(before);
  assert.equal(await hashOf(worker.http.url), old);
  writeFileSync(cfg.settings.handlersFile, '{ "local:broken": [ { "driver": "nope" } ] }');
  await eventually(async () => (await metricValue(sub.registry, 'handlers_reloads_total', { result: 'failed' })) >= 1, 'failed reload counted');
  assert.equal(await hashOf(before), old, 'the old table keeps running');
  writeFileSync(cfg.settings.handlersFile, JSON.stringify({ ...HANDLERS, 'local:added': [{ driver: 'shell', handler: 'argv.sh added' }] }));
  await eventually(async () => (await hashOf(before)) !== old && (await hashOf(worker.http.url)) !== old, 'both reloaded');
  const e = await client.send({ event_type: 'added' });
  await eventually(async () => runs().includes('|added'), 'the new entry ran');
  assert.ok(e.id);
});
