/**
 * Router throughput against a bare ZeroMQ relay and against EventReactor's own router.
 *
 *   node --import tsx bench/router-throughput.ts [--messages 200000] [--rounds 3]
 *
 * Each run has three processes on loopback: a sender (PUSH), a relay (PULL -> PUB) and a
 * receiver (SUB). The relay is one of
 *   - bare-relay.ts, the baseline: receive loop -> send, two frames;
 *   - eventreactor-relay.py, the main loop of EventReactor's event-router.py ported to
 *     Python 3 (recv, json.loads, a log line, send), run by Debian's python3-zmq with its
 *     log going to a file as its init script sends it;
 *   - router-relay.ts, `new Router(...)`, the product, with its replay buffer in memory
 *     (`router.journal: "memory"`), and again with its journal in Redis (`"redis"`, the
 *     default: each event is in a Redis stream before it is published), against a Redis
 *     started for the bench (REDIS_URL when set);
 * hosted identically, and the sender and receiver are the same code for all. Throughput
 * is measured at the receiver: load messages received / time from the first to the
 * last. The PUB and SUB high-water marks exceed the message count (the Python relay's
 * PUB has none) so nothing should be dropped; the receiver counts what arrived and drops
 * are reported, never hidden. The relays alternate within each round, `rounds` times;
 * the figures are the medians and their ratios, and (paired, robust to load changing
 * on a shared machine) the median of the per-round ratios. CPU per event is the relay
 * process's user + system time (all threads) while the load ran, over the events
 * received.
 *
 * Env: BENCH_MESSAGES, BENCH_ROUNDS; BENCH_PYTHON (default /usr/bin/python3, which must
 * import zmq: `apt-get install python3-zmq`); BENCH_EVENTREACTOR_LOGLEVEL (default INFO,
 * as EventReactor's sample config; WARNING skips writing its per-event line);
 * BENCH_PROF=DIR writes a V8 CPU profile of every Node child process (sender, relay,
 * receiver) into DIR, for `--cpu-prof` analysis.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ListeningMessage, ReceivedMessage, SentMessage, SubscribedMessage } from './children/protocol.js';
import { intOption } from './lib/options.js';
import { JsonLines, ProcessSet, cpuSeconds, exited, nextMessage, ofType, onSignals, stopProcess, watchdog } from './lib/processes.js';
import { printJson, printTable, progress } from './lib/report.js';
import { fmtInt, median, round } from './lib/stats.js';

const NAME = 'router-throughput';
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const VARIANTS = ['baseline', 'eventreactor', 'router', 'journal'] as const;
/** EventReactor's log level: INFO (its sample config) writes a line per event; WARNING skips it. */
const ER_LOGLEVEL = process.env['BENCH_EVENTREACTOR_LOGLEVEL'] || 'INFO';
const LABELS = {
  baseline: 'bare PULL->PUB',
  eventreactor: `EventReactor (Python, log ${ER_LOGLEVEL})`,
  router: 'Router (memory journal)',
  journal: 'Router (Redis journal)',
} as const;
/** Targets from the product brief: the router's rate over the bare relay's, and over EventReactor's. */
const TARGET_RATIO = 0.8;
const TARGET_RATIO_VS_EVENTREACTOR = 1.0;
/** After the sender is done, the receiver gives up once this long passes with nothing new. */
const IDLE_MS = 2000;
const START_TIMEOUT_MS = 30_000;

type Variant = (typeof VARIANTS)[number];

interface RunResult {
  variant: Variant;
  sent: number;
  received: number;
  relayed: number;
  drops: number;
  eventsPerS: number;
  /** CPU time per message of each process, µs (user + system, all threads). */
  cpuUsPerMsg: { sender: number; relay: number; receiver: number };
}

const procs = new ProcessSet();
const python = process.env['BENCH_PYTHON'] || '/usr/bin/python3';
/** EventReactor's router logs a line per event; its init script appends them to a file. */
let logDir: string | undefined;

function tsx(script: string, env: Record<string, string>, ipc: boolean): ChildProcess {
  return procs.spawn(
    process.execPath,
    [...(process.env['BENCH_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROF']}`] : []), '--import', 'tsx', script],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'],
    },
  );
}

function startRelay(variant: Variant, hwm: string): ChildProcess {
  switch (variant) {
    case 'baseline':
      return tsx(join(HERE, 'children/bare-relay.ts'), { BENCH_PUB_HWM: hwm }, false);
    case 'router':
      return tsx(join(HERE, 'children/router-relay.ts'), { BENCH_PUB_HWM: hwm }, false);
    case 'journal':
      return tsx(join(HERE, 'children/router-relay.ts'), { BENCH_PUB_HWM: hwm, BENCH_REDIS_URL: redisUrl! }, false);
    case 'eventreactor': {
      logDir ??= mkdtempSync(join(tmpdir(), 'router-throughput-'));
      const log = openSync(join(logDir, 'event-router.log'), 'a');
      try {
        const env = { ...process.env, BENCH_LOGLEVEL: ER_LOGLEVEL };
        return procs.spawn(python, [join(HERE, 'children/eventreactor-relay.py')], { cwd: ROOT, env, stdio: ['ignore', 'pipe', log] });
      } finally {
        closeSync(log);
      }
    }
  }
}

/** Fail early, saying what to install, when the Python relay cannot run. */
function checkPython(): void {
  const r = spawnSync(python, ['-c', 'import zmq'], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `${python} cannot import zmq (${(r.error?.message ?? r.stderr).trim()}); install Debian's python3-zmq (apt-get install -y python3-zmq) or set BENCH_PYTHON`,
    );
  }
}

async function runOnce(variant: Variant, messages: number, runTimeoutMs: number): Promise<RunResult> {
  // High-water marks above the message count: PUB/SUB drop silently at the mark.
  const hwm = String(messages + 10_000);
  const relay = startRelay(variant, hwm);
  const relayOut = new JsonLines(relay);
  const ready = await relayOut.waitFor((l) => l['msg'] === 'relay listening', `${variant} relay to listen`, START_TIMEOUT_MS);
  const env = { BENCH_MESSAGES: String(messages), BENCH_PULL: String(ready['pull']), BENCH_PUB: String(ready['pub']), BENCH_SUB_HWM: hwm };

  const receiver = tsx(join(HERE, 'children/receiver.ts'), env, true);
  await nextMessage(receiver, ofType<ListeningMessage>('listening'), 'receiver to connect', START_TIMEOUT_MS);
  const sender = tsx(join(HERE, 'children/sender.ts'), env, true);
  await nextMessage(receiver, ofType<SubscribedMessage>('subscribed'), 'the subscription to reach the PUB socket', START_TIMEOUT_MS);

  const pids = { sender: sender.pid!, relay: relay.pid!, receiver: receiver.pid! };
  const cpu0 = { sender: cpuSeconds(pids.sender) ?? 0, relay: cpuSeconds(pids.relay) ?? 0, receiver: cpuSeconds(pids.receiver) ?? 0 };
  const receivedP = nextMessage(receiver, ofType<ReceivedMessage>('received'), 'the receiver to finish', runTimeoutMs);
  const sentP = nextMessage(sender, ofType<SentMessage>('sent'), 'the sender to finish', runTimeoutMs);
  sender.send({ type: 'go' });
  const sent = await sentP;
  const cpuSender = (cpuSeconds(pids.sender) ?? 0) - cpu0.sender;
  receiver.send({ type: 'sender-done', idleMs: IDLE_MS });
  const got = await receivedP;
  const cpuRelay = (cpuSeconds(pids.relay) ?? 0) - cpu0.relay;
  const cpuReceiver = (cpuSeconds(pids.receiver) ?? 0) - cpu0.receiver;

  sender.send({ type: 'stop' });
  await stopProcess(relay, 5000);
  const closed = relayOut.seen.find((l) => l['msg'] === 'relay closed');
  // One run's log at a time: ~85 bytes a line, 17 MB per 200,000 events.
  if (logDir) rmSync(join(logDir, 'event-router.log'), { force: true });
  await Promise.all([exited(sender), exited(receiver)]);

  const us = (s: number): number => round((s * 1e6) / Math.max(1, got.received), 2);
  return {
    variant,
    sent: sent.sent,
    received: got.received,
    relayed: typeof closed?.['relayed'] === 'number' ? closed['relayed'] : -1,
    drops: sent.sent - got.received,
    eventsPerS: got.spanMs > 0 ? (got.received * 1000) / got.spanMs : 0,
    cpuUsPerMsg: { sender: us(cpuSender), relay: us(cpuRelay), receiver: us(cpuReceiver) },
  };
}

async function main(): Promise<void> {
  const messages = intOption('messages', 'BENCH_MESSAGES', 200_000);
  const rounds = intOption('rounds', 'BENCH_ROUNDS', 3);
  checkPython();
  if (process.env['REDIS_URL']) redisUrl = process.env['REDIS_URL'];
  else {
    const { startRedis } = await import('../src/devstack/redis-server.js');
    const { silentLogger } = await import('../src/logger.js');
    redis = await startRedis({ log: silentLogger() });
    redisUrl = redis.url;
  }
  // Generous: 10k msg/s would be far below anything seen; bounded all the same.
  const runTimeoutMs = 30_000 + messages / 10;
  watchdog(NAME, rounds * VARIANTS.length * (runTimeoutMs + 3 * START_TIMEOUT_MS));
  onSignals(() => procs.stopAll(1000).then(removeLogs).then(stopRedis));
  const started = performance.now();

  const runs: RunResult[] = [];
  for (let round_ = 1; round_ <= rounds; round_++) {
    for (const variant of VARIANTS) {
      progress(NAME, `round ${round_}/${rounds}: ${variant}, ${fmtInt(messages)} messages`);
      const r = await runOnce(variant, messages, runTimeoutMs);
      progress(NAME, `  ${fmtInt(r.eventsPerS)} events/s, received ${fmtInt(r.received)}/${fmtInt(r.sent)}, relay CPU ${r.cpuUsPerMsg.relay} µs/msg`);
      runs.push(r);
    }
  }

  const of = (v: Variant): RunResult[] => runs.filter((r) => r.variant === v);
  const med = (v: Variant, f: (r: RunResult) => number): number => median(of(v).map(f));
  const rate = (v: Variant): number => med(v, (r) => r.eventsPerS);
  const cpu = (v: Variant): number => med(v, (r) => r.cpuUsPerMsg.relay);
  const base = rate('baseline');
  const er = rate('eventreactor');
  const router = rate('router');
  const journal = rate('journal');
  const ratio = router / base;
  const ratioJournal = journal / base;
  const ratioEr = router / er;
  // Paired: each round's relays ran back to back, so a change of load on a shared machine
  // moves both sides of a round's ratio; the median of these is a second reading.
  const perRound = (v: Variant): number[] => of('router').map((r, i) => r.eventsPerS / of(v)[i]!.eventsPerS);
  const roundRatios = { baseline: perRound('baseline'), eventreactor: perRound('eventreactor') };
  const drops = Object.fromEntries(VARIANTS.map((v) => [v, of(v).reduce((n, r) => n + r.drops, 0)])) as Record<Variant, number>;

  printTable(
    `Router throughput: PUSH -> relay -> SUB, 1 KB events, ${fmtInt(messages)} per run, ${rounds} runs each (median)`,
    ['relay', 'events/s', 'runs (events/s)', 'dropped', 'relay CPU µs/msg', 'sender µs/msg', 'receiver µs/msg'],
    VARIANTS.map((v) => [
      LABELS[v],
      fmtInt(rate(v)),
      of(v)
        .map((r) => fmtInt(r.eventsPerS))
        .join(' / '),
      `${fmtInt(drops[v])}`,
      String(round(cpu(v), 1)),
      String(
        round(
          med(v, (r) => r.cpuUsPerMsg.sender),
          1,
        ),
      ),
      String(
        round(
          med(v, (r) => r.cpuUsPerMsg.receiver),
          1,
        ),
      ),
    ]),
  );
  const verdict = (x: number, target: number): string => `target >= ${target}: ${x >= target ? 'met' : 'NOT met'}`;
  const rounds2 = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  process.stdout.write(
    `router / baseline = ${ratio.toFixed(2)} (${verdict(ratio, TARGET_RATIO)}); per round ${rounds2(roundRatios.baseline)}, median ${median(roundRatios.baseline).toFixed(2)}\n`,
  );
  process.stdout.write(
    `router / EventReactor = ${ratioEr.toFixed(2)} (${verdict(ratioEr, TARGET_RATIO_VS_EVENTREACTOR)}); per round ${rounds2(roundRatios.eventreactor)}, median ${median(roundRatios.eventreactor).toFixed(2)}\n`,
  );
  process.stdout.write(
    `router with the Redis journal / baseline = ${ratioJournal.toFixed(2)}; / memory journal = ${(journal / router).toFixed(2)}; relay CPU ${round(cpu('journal'), 1)} µs/event\n`,
  );
  process.stdout.write(
    `relay CPU per event: router ${round(cpu('router'), 1)} µs, bare ${round(cpu('baseline'), 1)} µs (x${(cpu('router') / cpu('baseline')).toFixed(2)}), EventReactor ${round(cpu('eventreactor'), 1)} µs (x${(cpu('router') / cpu('eventreactor')).toFixed(2)})\n`,
  );
  const elapsedS = (performance.now() - started) / 1000;
  printJson({
    bench: NAME,
    messages,
    rounds,
    event_bytes: 1024,
    baseline_events_per_s: round(base),
    eventreactor_events_per_s: round(er),
    eventreactor_loglevel: ER_LOGLEVEL,
    router_events_per_s: round(router),
    journal_events_per_s: round(journal),
    ratio_journal: round(ratioJournal, 3),
    ratio_journal_vs_memory: round(journal / router, 3),
    ratio: round(ratio, 3),
    ratio_vs_eventreactor: round(ratioEr, 3),
    ratio_round_median: round(median(roundRatios.baseline), 3),
    ratio_vs_eventreactor_round_median: round(median(roundRatios.eventreactor), 3),
    target_ratio: TARGET_RATIO,
    target_met: ratio >= TARGET_RATIO,
    target_ratio_vs_eventreactor: TARGET_RATIO_VS_EVENTREACTOR,
    target_vs_eventreactor_met: ratioEr >= TARGET_RATIO_VS_EVENTREACTOR,
    dropped: drops,
    relay_cpu_us_per_msg: { baseline: cpu('baseline'), eventreactor: cpu('eventreactor'), router: cpu('router'), journal: cpu('journal') },
    cpu_ratio: round(cpu('router') / cpu('baseline'), 3),
    cpu_ratio_vs_eventreactor: round(cpu('router') / cpu('eventreactor'), 3),
    runs: runs.map((r) => ({ ...r, eventsPerS: round(r.eventsPerS) })),
    elapsed_s: round(elapsedS, 1),
  });
}

let redis: { url: string; stop(): Promise<void> } | undefined;
let redisUrl: string | undefined;

function stopRedis(): Promise<void> {
  return redis?.stop() ?? Promise.resolve();
}

function removeLogs(): void {
  if (logDir) rmSync(logDir, { recursive: true, force: true });
}

main()
  .then(removeLogs)
  .then(stopRedis)
  .catch(async (err: unknown) => {
    process.stderr.write(`${NAME}: ${(err as Error)?.stack ?? String(err)}\n`);
    await procs.stopAll(1000);
    removeLogs();
    await stopRedis();
    process.exit(1);
  });
