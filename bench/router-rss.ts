/**
 * Router memory at a steady load, against the bare relay.
 *
 *   node --import tsx bench/router-rss.ts [--rate 5000] [--seconds 40]
 *
 * Runs the built router as an operator does (`node bin/event-router -c <temp config>`),
 * connects a SUB to its PUB stream, pushes 1 KB events at a steady `rate` for `seconds`,
 * and samples the child's RSS (VmRSS in /proc/<pid>/status) every second. Then the same
 * for bare-relay.ts (PULL -> PUB), bundled with esbuild and run by plain node, so that
 * neither process carries tsx. Reports idle RSS, steady-state RSS (median of the last 10
 * samples), peak, and growth, plus messages dropped between sender and SUB.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';
import * as zmq from 'zeromq';
import { EVENT_BYTES, PROBE_MAX_BYTES, eventJson, probeJson } from './lib/events.js';
import { intOption } from './lib/options.js';
import { sendPaced } from './lib/pace.js';
import { JsonLines, ProcessSet, cpuSeconds, onSignals, rssKiB, stopProcess, watchdog } from './lib/processes.js';
import { printJson, printTable, progress } from './lib/report.js';
import { routerPorts, writeBenchConfig } from './lib/stack.js';
import { startRedis } from '../src/devstack/redis-server.js';
import { silentLogger } from '../src/logger.js';
import { fmtInt, median, round } from './lib/stats.js';

const NAME = 'router-rss';
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const IDLE_SAMPLES = 3;
const START_TIMEOUT_MS = 30_000;

const procs = new ProcessSet();

interface RssResult {
  variant: 'router' | 'baseline';
  idleKiB: number;
  steadyKiB: number;
  peakKiB: number;
  /** Steady-state RSS minus idle RSS. */
  growthKiB: number;
  /** Median of the last 3 samples minus the median of samples 8-10 s into the load: still growing? */
  lateGrowthKiB: number;
  samplesKiB: number[];
  sent: number;
  received: number;
  dropped: number;
  cpuPct: number;
}

/** bare-relay.ts as one plain ES module (zeromq left external), to run without tsx. */
async function bundleBareRelay(): Promise<string> {
  const out = await build({
    entryPoints: [join(HERE, 'children/bare-relay.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    write: false,
    logLevel: 'warning',
  });
  return out.outputFiles[0]!.text;
}

async function measure(variant: RssResult['variant'], child: ChildProcess, pull: string, pub: string, rate: number, seconds: number): Promise<RssResult> {
  const pid = child.pid!;
  const sub = new zmq.Subscriber({ receiveHighWaterMark: 1_000_000, linger: 0 });
  sub.connect(pub);
  sub.subscribe();
  const push = new zmq.Push({ linger: 0 });
  push.connect(pull);

  let received = 0;
  let subscribed = false;
  const receiving = (async () => {
    try {
      for await (const frames of sub) {
        const body = frames[frames.length - 1];
        if (body && body.length > PROBE_MAX_BYTES) received++;
        else subscribed = true;
      }
    } catch (err) {
      if (!sub.closed) throw err;
    }
  })();
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (!subscribed) {
    if (performance.now() > deadline) throw new Error(`${variant}: the SUB socket never received a probe`);
    await push.send(probeJson('bench.probe'));
    await sleep(20);
  }

  const idle: number[] = [];
  for (let i = 0; i < IDLE_SAMPLES; i++) {
    await sleep(1000);
    idle.push(rssKiB(pid) ?? Number.NaN);
  }

  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rssKiB(pid) ?? Number.NaN), 1000);
  const body = Buffer.from(eventJson('bench.load'));
  const cpu0 = cpuSeconds(pid) ?? 0;
  const t0 = performance.now();
  const paced = await sendPaced({ rate, count: rate * seconds, send: () => push.send(body) });
  const cpuPct = (100 * ((cpuSeconds(pid) ?? 0) - cpu0) * 1000) / (performance.now() - t0);
  clearInterval(sampler);
  // Whatever is still in flight arrives well within this.
  for (let i = 0; i < 20 && received < paced.sent; i++) await sleep(100);
  sub.close();
  push.close();
  await receiving;

  const steadyKiB = median(samples.slice(-10));
  return {
    variant,
    idleKiB: median(idle),
    steadyKiB,
    peakKiB: Math.max(...samples),
    growthKiB: steadyKiB - median(idle),
    // Growth over the last 10 s (1 sample a second): near 0 once memory has levelled off.
    lateGrowthKiB: median(samples.slice(-3)) - median(samples.slice(-13, -10)),
    samplesKiB: samples,
    sent: paced.sent,
    received,
    dropped: paced.sent - received,
    cpuPct: round(cpuPct, 1),
  };
}

async function main(): Promise<void> {
  const rate = intOption('rate', 'BENCH_RSS_RATE', 5000);
  const seconds = intOption('seconds', 'BENCH_RSS_SECONDS', 40);
  if (seconds < 12) throw new RangeError('--seconds / BENCH_RSS_SECONDS must be at least 12 (10 steady-state samples)');
  watchdog(NAME, 4 * (seconds + IDLE_SAMPLES) * 1000 + 4 * START_TIMEOUT_MS);
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'event-reactor-bench-rss-'));
  // The router keeps its journal in Redis (the default): REDIS_URL, or one started here.
  const redis = process.env['REDIS_URL'] ? undefined : await startRedis({ log: silentLogger() });
  const redisUrl = process.env['REDIS_URL'] || redis!.url;
  onSignals(async () => {
    await procs.stopAll(1000);
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const results: RssResult[] = [];
  const problems: string[] = [];
  try {
    // The product: the built router, as an operator runs it.
    const ports = await routerPorts();
    const config = await writeBenchConfig({ dir, ports, logLevel: 'INFO', redisUrl });
    progress(NAME, `router: node bin/event-router -c ${config}; ${fmtInt(rate)} events/s for ${seconds} s`);
    const router = procs.spawn(process.execPath, [join(ROOT, 'bin/event-router'), '-c', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const routerOut = new JsonLines(router);
    await routerOut.waitFor((l) => l['msg'] === 'router listening', 'the router to listen', START_TIMEOUT_MS);
    results.push(await measure('router', router, `tcp://127.0.0.1:${ports.pull}`, `tcp://127.0.0.1:${ports.pub}`, rate, seconds));
    const rExit = await stopProcess(router, 10_000);
    if (rExit.code !== 0) problems.push(`event-router exited with ${rExit.code ?? rExit.signal} on SIGTERM`);
    for (const l of routerOut.seen) if (typeof l['level'] === 'number' && l['level'] >= 40) problems.push(`event-router logged "${String(l['msg'])}"`);

    // The baseline: the bare relay, plain node, same socket options and load.
    progress(NAME, `baseline: bare PULL -> PUB relay (plain node); ${fmtInt(rate)} events/s for ${seconds} s`);
    const code = await bundleBareRelay();
    const bp = await routerPorts();
    const bare = procs.spawn(process.execPath, ['--input-type=module', '-e', code], {
      cwd: ROOT,
      env: { ...process.env, BENCH_PULL_BIND: `tcp://127.0.0.1:${bp.pull}`, BENCH_PUB_BIND: `tcp://127.0.0.1:${bp.pub}`, BENCH_PUB_HWM: '100000' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const bareOut = new JsonLines(bare);
    const ready = await bareOut.waitFor((l) => l['msg'] === 'relay listening', 'the bare relay to listen', START_TIMEOUT_MS);
    results.push(await measure('baseline', bare, String(ready['pull']), String(ready['pub']), rate, seconds));
    await stopProcess(bare, 5000);
  } finally {
    await procs.stopAll(1000);
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  }

  for (const r of results) if (r.dropped !== 0) problems.push(`${r.variant}: ${r.dropped} of ${r.sent} events did not reach the SUB socket`);
  const mib = (k: number): string => (k / 1024).toFixed(1);
  printTable(
    `Router RSS: ${fmtInt(rate)} x ${EVENT_BYTES} B events/s for ${seconds} s, SUB connected (MiB)`,
    ['process', 'idle', 'steady', 'peak', 'growth', 'last 10 s', 'CPU %', 'sent/received'],
    results.map((r) => [
      r.variant === 'router' ? 'node bin/event-router' : 'bare PULL->PUB (node)',
      mib(r.idleKiB),
      mib(r.steadyKiB),
      mib(r.peakKiB),
      `${r.growthKiB >= 0 ? '+' : ''}${mib(r.growthKiB)}`,
      `${r.lateGrowthKiB >= 0 ? '+' : ''}${mib(r.lateGrowthKiB)}`,
      String(r.cpuPct),
      `${fmtInt(r.sent)}/${fmtInt(r.received)}`,
    ]),
  );
  const router = results.find((r) => r.variant === 'router')!;
  const base = results.find((r) => r.variant === 'baseline')!;
  process.stdout.write(`router steady RSS / bare relay steady RSS = ${(router.steadyKiB / base.steadyKiB).toFixed(2)}\n`);
  process.stdout.write(problems.length > 0 ? `problems:\n${problems.map((p) => `  - ${p}`).join('\n')}\n` : 'problems: none\n');
  printJson({
    bench: NAME,
    rate,
    seconds,
    event_bytes: EVENT_BYTES,
    router_kib: { idle: router.idleKiB, steady: router.steadyKiB, peak: router.peakKiB, growth: router.growthKiB, late_growth: router.lateGrowthKiB },
    baseline_kib: { idle: base.idleKiB, steady: base.steadyKiB, peak: base.peakKiB, growth: base.growthKiB, late_growth: base.lateGrowthKiB },
    steady_ratio: round(router.steadyKiB / base.steadyKiB, 2),
    cpu_pct: { router: router.cpuPct, baseline: base.cpuPct },
    dropped: { router: router.dropped, baseline: base.dropped },
    samples_kib: { router: router.samplesKiB, baseline: base.samplesKiB },
    problems,
    elapsed_s: round((performance.now() - started) / 1000, 1),
  });
}

main().catch(async (err: unknown) => {
  process.stderr.write(`${NAME}: ${(err as Error)?.stack ?? String(err)}\n`);
  await procs.stopAll(1000);
  process.exit(1);
});
