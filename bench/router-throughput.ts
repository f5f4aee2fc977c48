/**
 * Router throughput against a bare ZeroMQ relay.
 *
 *   node --import tsx bench/router-throughput.ts [--messages 200000] [--rounds 3]
 *
 * Each run has three processes on loopback: a sender (PUSH), a relay (PULL -> PUB) and a
 * receiver (SUB). The relay is either bare-relay.ts (the baseline: receive loop -> send,
 * two frames) or router-relay.ts (`new Router(...)`, the product), hosted identically, and
 * the sender and receiver are the same code for both. Throughput is measured at the
 * receiver: load messages received / time from the first to the last. The PUB and SUB
 * high-water marks exceed the message count so nothing should be dropped; the receiver
 * counts what arrived and drops are reported, never hidden. Baseline and router runs
 * alternate, `rounds` times each; the figures are the medians and their ratio.
 *
 * Env: BENCH_MESSAGES, BENCH_ROUNDS; BENCH_PROF=DIR writes a V8 CPU profile of every
 * child process (sender, relay, receiver) into DIR, for `--cpu-prof` analysis.
 */
import type { ChildProcess } from 'node:child_process';
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
const RELAYS = { baseline: join(HERE, 'children/bare-relay.ts'), router: join(HERE, 'children/router-relay.ts') } as const;
/** Target from the product brief: the router keeps at least this share of the bare relay's rate. */
const TARGET_RATIO = 0.8;
/** After the sender is done, the receiver gives up once this long passes with nothing new. */
const IDLE_MS = 2000;
const START_TIMEOUT_MS = 30_000;

type Variant = keyof typeof RELAYS;

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

function tsx(script: string, env: Record<string, string>, ipc: boolean): ChildProcess {
  return procs.spawn(process.execPath, [...(process.env['BENCH_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROF']}`] : []), '--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'],
  });
}

async function runOnce(variant: Variant, messages: number, runTimeoutMs: number): Promise<RunResult> {
  // High-water marks above the message count: PUB/SUB drop silently at the mark.
  const hwm = String(messages + 10_000);
  const relay = tsx(RELAYS[variant], { BENCH_PUB_HWM: hwm }, false);
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
  // Generous: 10k msg/s would be far below anything seen; bounded all the same.
  const runTimeoutMs = 30_000 + messages / 10;
  watchdog(NAME, rounds * 2 * (runTimeoutMs + 3 * START_TIMEOUT_MS));
  onSignals(() => procs.stopAll(1000));
  const started = performance.now();

  const runs: RunResult[] = [];
  for (let round_ = 1; round_ <= rounds; round_++) {
    for (const variant of ['baseline', 'router'] as const) {
      progress(NAME, `round ${round_}/${rounds}: ${variant}, ${fmtInt(messages)} messages`);
      const r = await runOnce(variant, messages, runTimeoutMs);
      progress(NAME, `  ${fmtInt(r.eventsPerS)} events/s, received ${fmtInt(r.received)}/${fmtInt(r.sent)}, relay CPU ${r.cpuUsPerMsg.relay} µs/msg`);
      runs.push(r);
    }
  }

  const of = (v: Variant): RunResult[] => runs.filter((r) => r.variant === v);
  const med = (v: Variant, f: (r: RunResult) => number): number => median(of(v).map(f));
  const base = med('baseline', (r) => r.eventsPerS);
  const router = med('router', (r) => r.eventsPerS);
  const ratio = router / base;
  const drops = { baseline: of('baseline').reduce((n, r) => n + r.drops, 0), router: of('router').reduce((n, r) => n + r.drops, 0) };

  printTable(
    `Router throughput: PUSH -> relay -> SUB, 1 KB events, ${fmtInt(messages)} per run, ${rounds} runs each (median)`,
    ['relay', 'events/s', 'runs (events/s)', 'dropped', 'relay CPU µs/msg', 'sender µs/msg', 'receiver µs/msg'],
    (['baseline', 'router'] as const).map((v) => [
      v === 'baseline' ? 'bare PULL->PUB' : 'Router',
      fmtInt(med(v, (r) => r.eventsPerS)),
      of(v).map((r) => fmtInt(r.eventsPerS)).join(' / '),
      `${fmtInt(drops[v])}`,
      String(round(med(v, (r) => r.cpuUsPerMsg.relay), 1)),
      String(round(med(v, (r) => r.cpuUsPerMsg.sender), 1)),
      String(round(med(v, (r) => r.cpuUsPerMsg.receiver), 1)),
    ]),
  );
  process.stdout.write(`router / baseline = ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'})\n`);
  const elapsedS = (performance.now() - started) / 1000;
  printJson({
    bench: NAME,
    messages,
    rounds,
    event_bytes: 1024,
    baseline_events_per_s: round(base),
    router_events_per_s: round(router),
    ratio: round(ratio, 3),
    target_ratio: TARGET_RATIO,
    target_met: ratio >= TARGET_RATIO,
    dropped: drops,
    relay_cpu_us_per_msg: { baseline: med('baseline', (r) => r.cpuUsPerMsg.relay), router: med('router', (r) => r.cpuUsPerMsg.relay) },
    runs: runs.map((r) => ({ ...r, eventsPerS: round(r.eventsPerS) })),
    elapsed_s: round(elapsedS, 1),
  });
}

main().catch(async (err: unknown) => {
  process.stderr.write(`${NAME}: ${(err as Error)?.stack ?? String(err)}\n`);
  await procs.stopAll(1000);
  process.exit(1);
});
