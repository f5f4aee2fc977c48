/**
 * History and replay as an operator uses them: `events ls/show/tail`, `results ls` and
 * `replay`, run as built bins against a running stack.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemons, type RunningDaemons } from '../../src/daemons/start-daemons.js';
import { silentLogger } from '../../src/logger.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { NOT_BUILT, runBin, startBin } from '../helpers/bins.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';
import { dropDatabase, useServices } from '../helpers/services.js';

let cfg: TestConfig;
let running: RunningDaemons | undefined;
let client: RouterClient;
const ids: Record<string, string> = {};

after(async () => {
  client?.close();
  await running?.close();
  if (cfg) await dropDatabase(await services.mongoUrl(), cfg.database);
});
const services = useServices();

const er = (args: string[]) => runBin('event-reactor', [...args, '-c', cfg.configFile]);

before(async () => {
  if (NOT_BUILT) return;
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: {
      'local:hist.ok': [{ driver: 'shell', handler: 'ok.sh' }],
      'local:hist.bad': [{ driver: 'shell', handler: 'bad.sh', retries: 0 }],
      'local:hist.chain': [{ driver: 'tsfunc', handler: 'chain.next' }],
      'local:deploy.*': [{ driver: 'shell', handler: 'ok.sh {{payload.service}}', when: { payload: { env: ['prod'] } } }],
    },
    files: {
      'ok.sh': '#!/bin/sh\necho fine\n',
      'bad.sh': '#!/bin/sh\necho broken >&2\nexit 4\n',
      'chain.ts':
        'export async function next(_e: unknown, ctx: { fire(e: object): Promise<{ id: string }> }): Promise<string> {\n  return (await ctx.fire({ event_type: "hist.ok", payload: { from: "chain" } })).id;\n}\n',
    },
  });
  running = await startDaemons(['router', 'sub', 'worker'], cfg.settings, silentLogger());
  client = new RouterClient({ uri: `tcp://127.0.0.1:${cfg.ports.rep}`, timeoutMs: 5000 });
  await eventually(async () => (await er(['events', 'ls', '--json'])).code === 0 || undefined, 'the archive answers');
  ids['ok'] = (await client.send({ event_type: 'hist.ok', payload: { n: 1 } })).id;
  ids['bad'] = (await client.send({ event_type: 'hist.bad', payload: { n: 2 } })).id;
  ids['chain'] = (await client.send({ event_type: 'hist.chain', payload: {} })).id;
  await eventually(
    async () => {
      const r = await er(['results', 'ls', '--json']);
      return r.stdout.trim().split('\n').filter(Boolean).length >= 4 || undefined;
    },
    'four handler runs',
    30_000,
  );
});

test('events ls - newest first, one line each with its handlers’ outcomes; filters by key, status and time', { skip: NOT_BUILT }, async () => {
  const all = await er(['events', 'ls']);
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trim().split('\n');
  assert.ok(lines.length >= 4, all.stdout);
  assert.match(
    lines.find((l) => l.includes(ids['bad']!))!,
    /local:hist\.bad {2}DEAD {2}bad\.sh=dead/,
  );
  assert.match(
    lines.find((l) => l.includes(ids['ok']!))!,
    /local:hist\.ok {2}ok {2}ok\.sh=ok/,
  );
  const times = lines.map((l) => l.slice(0, 24));
  assert.deepEqual([...times].sort().reverse(), times, 'newest first');
  const bad = await er(['events', 'ls', '--status', 'dead', '--json']);
  assert.deepEqual(
    bad.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: string }).id),
    [ids['bad']],
  );
  const glob = await er(['events', 'ls', '--key', 'local:hist.c*', '--json']);
  assert.deepEqual(
    glob.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { key: string }).key),
    ['local:hist.chain'],
  );
  const future = await er(['events', 'ls', '--since', '2999-01-01']);
  assert.equal(future.stdout, '');
  const badTime = await er(['events', 'ls', '--since', 'yesterday']);
  assert.equal(badTime.code, 64);
  assert.match(badTime.stderr, /--since "yesterday" is not a time/);
});

test('events show - the event, its runs with code and stderr, its follow-ups and its trace', { skip: NOT_BUILT }, async () => {
  const bad = await er(['events', 'show', ids['bad']!]);
  assert.equal(bad.code, 0, bad.stderr);
  assert.match(bad.stdout, /shell:bad\.sh {2}DEAD error {2}run 1, attempt 1 {2}\d+ ms {2}exit 4/);
  assert.match(bad.stdout, /stderr: broken/);
  const chain = JSON.parse((await er(['events', 'show', ids['chain']!, '--json'])).stdout) as { followUps: { _id: string; key: string }[] };
  assert.equal(chain.followUps.length, 1);
  assert.equal(chain.followUps[0]!.key, 'local:hist.ok');
  const child = await er(['events', 'show', chain.followUps[0]!._id]);
  assert.match(child.stdout, new RegExp(`trace: ${ids['chain']} \\(local:hist\\.chain\\) -> ${chain.followUps[0]!._id}`));
  const missing = await er(['events', 'show', 'no-such-id']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no event with id "no-such-id"/);
});

test('results ls - runs newest first, by handler and status', { skip: NOT_BUILT }, async () => {
  const dead = await er(['results', 'ls', '--status', 'dead']);
  assert.equal(dead.code, 0, dead.stderr);
  assert.equal(dead.stdout.trim().split('\n').length, 1);
  assert.match(dead.stdout, /shell:bad\.sh {2}DEAD {2}\d+ ms {2}attempt 1 {2}ERR_HANDLER: handler exited with code 4/);
  const ok = await er(['results', 'ls', '--handler', 'ok.sh', '--json']);
  assert.equal(ok.stdout.trim().split('\n').length, 2, 'hist.ok and the chain follow-up');
});

test('events tail - prints the live stream, filtered by key', { skip: NOT_BUILT }, async () => {
  const tail = startBin('event-reactor', ['events', 'tail', '--key', 'local:hist.?k', '-c', cfg.configFile]);
  try {
    await tail.waitFor(/following/);
    // PUB/SUB joins asynchronously: fire until the tail prints one.
    await eventually(async () => {
      await client.send({ event_type: 'hist.other', payload: {} });
      await client.send({ event_type: 'hist.ok', payload: { tail: true } });
      await new Promise((r) => setTimeout(r, 100));
      return tail.output().includes('{"tail":true}') || undefined;
    }, 'the tail to print an event');
    assert.doesNotMatch(tail.output(), /local:hist\.other/);
  } finally {
    tail.child.kill('SIGINT');
  }
  assert.equal(await tail.exited, 0);
});

test(
  'events show and replay --dry-run follow the rules: a skipped entry is shown with why, a glob entry whose pattern matches would run',
  { skip: NOT_BUILT },
  async () => {
    const prod = (await client.send({ event_type: 'deploy.finished', payload: { service: 'api', env: 'prod' } })).id;
    const staging = (await client.send({ event_type: 'deploy.finished', payload: { service: 'web', env: 'staging' } })).id;
    const shown = await eventually(async () => {
      const r = await er(['events', 'show', staging]);
      return r.code === 0 ? r.stdout : undefined;
    }, 'the staging event archived');
    assert.match(shown, /decision: skipped {2}local:deploy\.\* {2}ok\.sh \{\{payload\.service\}\} {2}\(when: payload\.env is "staging", expected \["prod"\]\)/);
    const dry = await er(['replay', '--id', prod, staging, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`${prod}  local:deploy\\.finished  .*would run: shell:ok\\.sh \\{\\{payload\\.service\\}\\}`));
    assert.match(dry.stdout, new RegExp(`${staging}  local:deploy\\.finished  .*would run: no handler`));
  },
);

test('replay - --dry-run lists the events and handlers; a replay fires new events in the same trace that run again', { skip: NOT_BUILT }, async () => {
  const dry = await er(['replay', '--id', ids['ok']!, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`${ids['ok']}  local:hist\\.ok  .*would run: shell:ok\\.sh`));
  const r = await er(['replay', '--id', ids['ok']!, '--name', 'test-replay', '--rate', '10']);
  assert.equal(r.code, 0, r.stderr);
  const copyId = /-> (\S+)/.exec(r.stdout)![1]!;
  assert.notEqual(copyId, ids['ok']);
  const shown = await eventually(async () => {
    const s = JSON.parse((await er(['events', 'show', copyId, '--json'])).stdout || 'null') as {
      event: Record<string, unknown>;
      runs: { status: string }[];
    } | null;
    return s && s.runs.length > 0 ? s : undefined;
  }, 'the copy archived and run');
  assert.equal(shown.event['replay_of'], ids['ok']);
  assert.equal(shown.event['replay'], 'test-replay');
  assert.equal(shown.event['trace_id'], ids['ok']);
  assert.deepEqual(shown.event['payload'], { n: 1 });
  assert.equal(shown.runs[0]!.status, 'ok');
  const none = await er(['replay']);
  assert.equal(none.code, 64);
  assert.match(none.stderr, /say what to replay/);
});
