import assert from 'node:assert/strict';
import { test, after } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import type { Fired } from './helpers/feeder.js';
import { frameHeader, rawPeer, type RawPeer } from './helpers/raw-zmtp.js';
import { FAULT_EVENTS, FAULT_RATE, Scenario } from './helpers/scenario.js';
import { ARCHIVE_ONLY_EVENT_TYPE, EVENT_TYPE } from './helpers/stack.js';

let s: Scenario | undefined;
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await s?.close();
});

const MiB = 1024 * 1024;
const tenths = (x: number): number => Math.round(x * 10) / 10;
/** Raw PULL peers that send the first part of a multipart message and never the last. */
const RAW_UNFINISHED = 4;
/** Raw PULL peers that announce a frame of router.max_event_bytes, send half of it and stall. */
const RAW_STALLED = 4;
/** Raw PULL peers that announce a frame of 1 TiB: above ZeroMQ's maxMessageSize. */
const RAW_OVERSIZED = 2;
/** The router's heartbeats (a PING every 10 s, dropped after 30 s without an answer), with slack. */
const HEARTBEAT_DROP_MS = 50_000;
/**
 * Events of almost router.max_event_bytes (1 MiB by default), by PUSH, this many a second
 * while the feeder runs. More would outrun the journal: 64 MiB (replay_max_bytes) is 16 s
 * of them at this rate, the window in which a subscriber the PUB socket dropped for can
 * still fetch what it missed.
 */
const BIG_RATE = 4;
const BIG_EVENTS = Math.max(20, Math.round((BIG_RATE * FAULT_EVENTS) / FAULT_RATE));
/** Requests a DEALER pipelines to the REP socket, and to the replay socket, never reading a reply. */
const DEALER_REQUESTS = 2000;
const REPLAY_REQUESTS = 2000;
/** The well-behaved REQ client: one event this often, each reply awaited at most this long. */
const GOOD_EVERY_MS = 200;
const GOOD_TIMEOUT_MS = 5000;

/**
 * Record an event for the tally: archived once and its handler run once, unless it is
 * `measured` (counted apart: see {@link Fired.measured}).
 */
function record(fired: Map<string, Fired>, id: string, eventType: string, via: Fired['via'], measured?: string): Fired {
  const f: Fired = { id, eventType, via, acked: false, at: Date.now(), ...(measured === undefined ? {} : { measured }) };
  fired.set(id, f);
  return f;
}

test('faults - hostile clients (unfinished multipart, a SUB that never reads 1 MiB events, DEALERs pipelining without reading): router memory bounded, a REQ client served throughout, nothing lost', async () => {
  const scenario = await Scenario.start('hostile-clients');
  s = scenario;
  const { stack, feeder } = scenario;
  const { ports, settings } = stack.cfg;
  const { maxEventBytes, replayMaxBytes } = settings.router;
  const rssLimit = replayMaxBytes + 128 * MiB;
  const { fired } = feeder;

  let routerRssMax = 0;
  const sampler = setInterval(() => {
    routerRssMax = Math.max(routerRssMax, stack.router.rss() ?? 0);
  }, 500);
  closers.push(() => clearInterval(sampler));

  // 1. Raw PULL peers that leave a message unfinished.
  const event = (id: string): Buffer => Buffer.from(JSON.stringify({ id, event_type: EVENT_TYPE, payload: { via: 'raw' } }));
  const raw: { unfinished: RawPeer[]; stalled: RawPeer[]; oversized: RawPeer[] } = { unfinished: [], stalled: [], oversized: [] };
  for (let i = 0; i < RAW_UNFINISHED; i++) {
    const part = event(`hostile-clients-raw-${i}`);
    raw.unfinished.push(await rawPeer(ports.pull, 'PUSH', Buffer.concat([frameHeader(part.length, true), part])));
  }
  for (let i = 0; i < RAW_STALLED; i++) {
    raw.stalled.push(await rawPeer(ports.pull, 'PUSH', Buffer.concat([frameHeader(maxEventBytes, false), Buffer.alloc(maxEventBytes / 2, 0x20)])));
  }
  for (let i = 0; i < RAW_OVERSIZED; i++) raw.oversized.push(await rawPeer(ports.pull, 'PUSH', frameHeader(2 ** 40, false)));
  const rawPeers = [...raw.unfinished, ...raw.stalled, ...raw.oversized];
  closers.push(() => rawPeers.forEach((p) => p.socket.destroy()));

  // 2. A subscriber that never reads, with the smallest buffers it can ask for.
  const deaf = new zmq.Subscriber({ receiveHighWaterMark: 1, receiveBufferSize: 4096, linger: 0 });
  deaf.subscribe();
  deaf.connect(`tcp://127.0.0.1:${ports.pub}`);
  closers.push(() => deaf.close());
  let deafDropped = 0;
  void (async () => {
    for await (const e of deaf.events) if (e.type === 'disconnect') deafDropped++;
  })().catch(() => undefined);

  // 3. DEALERs that pipeline requests and never read a reply.
  const repDealer = new zmq.Dealer({ receiveHighWaterMark: 1, receiveBufferSize: 4096, linger: 10_000 });
  repDealer.connect(`tcp://127.0.0.1:${ports.rep}`);
  const replayDealer = new zmq.Dealer({ receiveHighWaterMark: 1, receiveBufferSize: 4096, linger: 0 });
  replayDealer.connect(`tcp://127.0.0.1:${ports.replay}`);
  const bigPush = new zmq.Push({ linger: 10_000 });
  bigPush.connect(`tcp://127.0.0.1:${ports.pull}`);
  closers.push(() => [repDealer, replayDealer, bigPush].forEach((sock) => sock.close()));

  // 4. The well-behaved REQ client, until told to stop.
  const good = { sent: 0, answered: 0, failed: [] as string[], latencies: [] as number[], max: 0, maxAt: 0 };
  let goodStop = false;
  const goodLoop = (async () => {
    let req = new zmq.Request({ receiveTimeout: GOOD_TIMEOUT_MS, linger: 0 });
    req.connect(`tcp://127.0.0.1:${ports.rep}`);
    try {
      for (let i = 0; !goodStop; i++) {
        const next = Date.now() + GOOD_EVERY_MS;
        const id = `hostile-clients-good-${i}`;
        const f = record(fired, id, EVENT_TYPE, 'req');
        good.sent++;
        const t0 = performance.now();
        try {
          await req.send(JSON.stringify({ id, event_type: EVENT_TYPE, payload: { via: 'req', good: true } }));
          const [reply] = await req.receive();
          const body = JSON.parse(String(reply)) as { id?: string; error?: { code: string } };
          if (body.id !== id) throw new Error(`reply ${String(reply).slice(0, 200)}`);
          const ms = performance.now() - t0;
          if (ms > good.max) [good.max, good.maxAt] = [ms, scenario.seconds];
          good.latencies.push(ms);
          good.answered++;
          f.acked = true;
        } catch (err) {
          f.error = (err as Error).message;
          good.failed.push(`${id}: ${f.error}`);
          // A REQ socket that timed out waits for that reply forever: start a new one.
          req.close();
          req = new zmq.Request({ receiveTimeout: GOOD_TIMEOUT_MS, linger: 0 });
          req.connect(`tcp://127.0.0.1:${ports.rep}`);
        }
        await sleep(Math.max(0, next - Date.now()));
      }
    } finally {
      req.close();
    }
  })();

  const feeding = feeder.run();
  await feeder.waitDispatched(Math.floor(FAULT_EVENTS * 0.2));
  const hostileAt = scenario.seconds;

  const bigPushing = (async () => {
    const pad = 'x'.repeat(maxEventBytes - 1024);
    const t0 = Date.now();
    for (let i = 0; i < BIG_EVENTS; i++) {
      await sleep(Math.max(0, t0 + (i * 1000) / BIG_RATE - Date.now()));
      const id = `hostile-clients-big-${i}`;
      const f = record(fired, id, ARCHIVE_ONLY_EVENT_TYPE, 'push');
      await bigPush.send(JSON.stringify({ id, event_type: ARCHIVE_ONLY_EVENT_TYPE, payload: { pad } }));
      f.acked = true;
    }
  })();
  const repPipelining = (async () => {
    for (let i = 0; i < DEALER_REQUESTS; i++) {
      const id = `hostile-clients-dealer-${i}`;
      // Never acknowledged (the replies are not read), and what the router holds for a
      // peer goes with its connection when it is dropped: measured, not asserted. Archived
      // only: the worker's backlog is the feeder's.
      const f = record(fired, id, ARCHIVE_ONLY_EVENT_TYPE, 'dealer', 'dealer_unread');
      await repDealer.send(['', JSON.stringify({ id, event_type: ARCHIVE_ONLY_EVENT_TYPE, payload: { via: 'dealer' } })]);
      f.acked = true;
    }
  })();
  const replayPipelining = (async () => {
    // From the start of the epoch, as many as a reply takes: the largest replies there are.
    const request = JSON.stringify({ since: { epoch: 0, seq: 0 }, limit: 10_000 });
    for (let i = 0; i < REPLAY_REQUESTS; i++) await replayDealer.send(['', request]);
  })();

  const doneAt: Record<string, number> = {};
  const done = async (what: string, work: Promise<void>): Promise<void> => {
    await work;
    doneAt[what] = tenths(scenario.seconds);
  };
  await Promise.all([done('feeder', feeding), done('big', bigPushing), done('dealer', repPipelining), done('replay', replayPipelining)]);
  // Stalled peers go once heartbeats find them silent; wait for that (bounded).
  const connectedAt = Math.min(...rawPeers.map((p) => p.connectedAt));
  while (rawPeers.some((p) => p.closedAt === undefined) && Date.now() - connectedAt < HEARTBEAT_DROP_MS) await sleep(250);
  doneAt['raw_dropped'] = tenths(scenario.seconds);
  goodStop = true;
  await goodLoop;

  const dropMs = (peers: RawPeer[]): (number | null)[] => peers.map((p) => (p.closedAt === undefined ? null : p.closedAt - p.connectedAt));
  const sorted = [...good.latencies].sort((a, b) => a - b);
  const summary = await scenario.finish({
    hostile_from_s: tenths(hostileAt),
    done_at_s: doneAt,
    big_events: BIG_EVENTS,
    big_event_bytes: maxEventBytes - 1024,
    dealer_requests: DEALER_REQUESTS,
    replay_requests: REPLAY_REQUESTS,
    deaf_sub_dropped: deafDropped,
    raw_dropped_ms: { unfinished: dropMs(raw.unfinished), stalled: dropMs(raw.stalled), oversized: dropMs(raw.oversized) },
    good_req: {
      sent: good.sent,
      answered: good.answered,
      failed: good.failed.length,
      p50_ms: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
      max_ms: Math.round(good.max),
      max_at_s: tenths(good.maxAt),
    },
    router_rss_max_mb: Math.round(routerRssMax / 1e5) / 10,
    router_rss_limit_mb: Math.round(rssLimit / 1e5) / 10,
  });
  assert.deepEqual(good.failed, [], 'the well-behaved REQ client got every reply in time');
  assert.ok(routerRssMax < rssLimit, `router RSS stayed under replay_max_bytes + 128 MiB = ${rssLimit / MiB} MiB (max ${(routerRssMax / MiB).toFixed(1)} MiB)`);
  for (const p of raw.oversized)
    assert.ok(p.closedAt !== undefined && p.closedAt - p.connectedAt < 5000, 'a frame above maxMessageSize: connection dropped at once');
  for (const p of [...raw.unfinished, ...raw.stalled]) assert.ok(p.closedAt !== undefined, 'a silent peer is dropped by heartbeats');
  await scenario.assertNothingLost(summary);
});
