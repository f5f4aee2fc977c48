import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../src/router/router.js';
import { createRegistry } from '../../src/metrics.js';
import { silentLogger } from '../../src/logger.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { Subscriber } from '../../src/sub/subscriber.js';
import { rulesFrom } from '../helpers/rules.js';
import { freePort } from '../../src/devstack/free-port.js';
import type { Archive, Cursor, InsertedEvents } from '../../src/archive/archive.js';
import type { ReactorEvent } from '../../src/event/event.js';
import type { HandlerJobData } from '../../src/queue/job.js';
import { eventually } from '../helpers/config.js';

const cleanup: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

const HANDLERS = { 'local:pipe.test': [{ driver: 'tsfunc', handler: 'noop.run' }] };

/** A gate: `wait()` resolves once `open()` was called. */
function gate(): { wait: () => Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((r) => (open = r));
  return { wait: () => opened, open };
}

/** An archive in memory that records what it was asked, in order. */
class RecordingArchive implements Archive {
  readonly log: string[] = [];
  readonly archived = new Set<string>();
  readonly cursors: Cursor[] = [];

  async insertEvents(events: readonly ReactorEvent[]): Promise<InsertedEvents> {
    const ids = events.map((e) => e.id);
    this.log.push(`insert ${events.map((e) => e.seq).join(',')}`);
    for (const id of ids) this.archived.add(id);
    this.log.push(`inserted ${events.map((e) => e.seq).join(',')}`);
    return { inserted: events.length, duplicates: 0, conflicts: 0, rejected: 0 };
  }
  async insertResults(): Promise<void> {}
  async findOkResult(): Promise<string | undefined> {
    return undefined;
  }
  async loadCursor(): Promise<Cursor | undefined> {
    return undefined;
  }
  async saveCursor(_name: string, cursor: Cursor): Promise<void> {
    this.cursors.push(cursor);
  }
  async recordGap(): Promise<void> {}
  async close(): Promise<void> {}
}

async function setUp(
  archive: Archive,
  addBulk: (jobs: readonly HandlerJobData[]) => Promise<number>,
): Promise<{ router: Router; client: RouterClient; sub: Subscriber }> {
  const p = { pub: await freePort(), rep: await freePort(), replay: await freePort() };
  const router = new Router({
    settings: {
      pullBind: 'tcp://127.0.0.1:*',
      pullNamespace: 'local',
      rep: [{ bind: `tcp://127.0.0.1:${p.rep}`, namespace: 'local' }],
      pubBind: `tcp://127.0.0.1:${p.pub}`,
      framing: 'multipart',
      pubHighWaterMark: 100_000,
      maxEventBytes: 65536,
      refusalLogIntervalMs: 1000,
      replayBind: `tcp://127.0.0.1:${p.replay}`,
      replayMaxEvents: 1000,
      replayMaxBytes: 8 * 1024 * 1024,
      maxHops: 8,
      journal: 'memory',
      name: 'test',
    },
    log: silentLogger(),
    registry: createRegistry('router'),
  });
  await router.start();
  const client = new RouterClient({ uri: `tcp://127.0.0.1:${p.rep}`, timeoutMs: 5000 });
  const sub = new Subscriber({
    settings: { publisherUri: `tcp://127.0.0.1:${p.pub}`, replayUri: `tcp://127.0.0.1:${p.replay}`, batchSize: 100, batchMs: 5, name: 'pipe' },
    rules: rulesFrom(HANDLERS, createRegistry('rules')),
    archive,
    queue: { addBulk },
    log: silentLogger(),
    registry: createRegistry('sub'),
    idleCheckMs: 60_000,
  });
  await sub.start();
  cleanup.push(
    () => router.close(),
    () => client.close(),
    () => sub.close(),
  );
  return { router, client, sub };
}

const fire = (client: RouterClient, i: number): Promise<ReactorEvent> => client.send({ event_type: 'pipe.test', payload: { i } });

test('subscriber pipeline - the next batch is archived while the previous one is enqueued; nothing is enqueued before it is archived', async () => {
  const archive = new RecordingArchive();
  const enqueueFirst = gate();
  const enqueued: string[] = [];
  let calls = 0;
  const { client, sub } = await setUp(archive, async (jobs) => {
    for (const j of jobs) assert.ok(archive.archived.has(j.event.id), `${j.event.seq} enqueued before it was archived`);
    archive.log.push(`enqueue ${jobs.map((j) => j.event.seq).join(',')}`);
    if (calls++ === 0) await enqueueFirst.wait();
    enqueued.push(...jobs.map((j) => j.event.id));
    return jobs.length;
  });
  const first = await fire(client, 1);
  await eventually(async () => archive.log.includes(`enqueue ${first.seq}`), 'the first batch in its enqueue step');
  const second = await fire(client, 2);
  // While the first batch's enqueue is held, the second is archived, not enqueued.
  await eventually(async () => archive.log.includes(`inserted ${second.seq}`), 'the second batch archived meanwhile');
  assert.deepEqual(enqueued, []);
  assert.ok(!archive.log.includes(`enqueue ${second.seq}`), 'batches are enqueued in order, one at a time');
  assert.deepEqual(archive.cursors, [], 'no cursor before its events are enqueued');
  enqueueFirst.open();
  await sub.close();
  assert.deepEqual(enqueued, [first.id, second.id]);
  assert.deepEqual(archive.cursors.at(-1), { epoch: second.epoch, seq: second.seq }, 'the cursor saved at close is the last event');
});

test('subscriber pipeline - the cursor moves only past events archived and enqueued, and is saved at most every 100 ms', async () => {
  const archive = new RecordingArchive();
  const enqueuedSeqs = new Set<number>();
  const saves: { at: number; cursor: Cursor; enqueuedUpTo: boolean }[] = [];
  archive.saveCursor = async (_name, cursor) => {
    let all = true;
    for (let s = 1; s <= cursor.seq; s++) if (!enqueuedSeqs.has(s)) all = false;
    saves.push({ at: Date.now(), cursor, enqueuedUpTo: all });
  };
  const { client, sub } = await setUp(archive, async (jobs) => {
    for (const j of jobs) enqueuedSeqs.add(j.event.seq);
    return jobs.length;
  });
  let last: ReactorEvent | undefined;
  const until = Date.now() + 600;
  for (let i = 0; Date.now() < until; i++) {
    last = await fire(client, i);
    await new Promise((r) => setTimeout(r, 2));
  }
  await sub.close();
  assert.ok(saves.length >= 2, `saved while events flowed, ${saves.length} times`);
  assert.ok(
    saves.every((s) => s.enqueuedUpTo),
    'every saved cursor is past archived and enqueued events only',
  );
  for (let i = 1; i < saves.length - 1; i++) assert.ok(saves[i]!.at - saves[i - 1]!.at >= 95, `saves ${saves[i]!.at - saves[i - 1]!.at} ms apart`);
  assert.ok(saves.length <= 600 / 95 + 2, `${saves.length} saves for 600 ms of events`);
  assert.deepEqual(saves.at(-1)?.cursor, { epoch: last!.epoch, seq: last!.seq }, 'the last position is saved at close');
});
