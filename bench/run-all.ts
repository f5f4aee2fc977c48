/**
 * Run every bench in sequence: `npm run bench` (builds first), or
 *
 *   node --import tsx bench/run-all.ts
 *
 * Each bench runs as its own process with this environment (set BENCH_* variables to
 * change sizes: see each script's header). Their output is passed through; at the end a
 * summary table and one JSON line holding every bench's final JSON line.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { printJson, printTable } from './lib/report.js';
import { fmtInt, round } from './lib/stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCHES = ['router-throughput', 'e2e', 'router-rss', 'matcher', 'sub-rules', 'topology'] as const;

interface Outcome {
  name: string;
  code: number | null;
  seconds: number;
  figures: Record<string, unknown> | undefined;
}

function runBench(name: string): Promise<Outcome> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, `${name}.ts`)], { cwd: dirname(HERE), stdio: ['ignore', 'pipe', 'inherit'] });
  let last: Record<string, unknown> | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    process.stdout.write(`${line}\n`);
    if (!line.startsWith('{')) return;
    try {
      last = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // Not the figures line.
    }
  });
  // Passed on so an interrupted run-all stops the bench, which cleans up after itself.
  const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve({ name, code, seconds: (performance.now() - started) / 1000, figures: last });
    });
  });
}

function headline(o: Outcome): string {
  const f = o.figures;
  if (!f) return 'no figures';
  switch (o.name) {
    case 'router-throughput':
      return `router ${fmtInt(Number(f['router_events_per_s']))}/s vs bare ${fmtInt(Number(f['baseline_events_per_s']))}/s = ${Number(f['ratio'])}`;
    case 'e2e': {
      const t = f['throughput'] as { eventsPerS: number };
      const l = f['latency'] as { handlerStart: { p50: number; p99: number } };
      return `${fmtInt(t.eventsPerS)} events/s; fire->start p50 ${l.handlerStart.p50} ms, p99 ${l.handlerStart.p99} ms`;
    }
    case 'router-rss': {
      const r = f['router_kib'] as { steady: number };
      const b = f['baseline_kib'] as { steady: number };
      return `steady ${(r.steady / 1024).toFixed(1)} MiB vs bare ${(b.steady / 1024).toFixed(1)} MiB`;
    }
    case 'matcher':
      return `${fmtInt(Number(f['matcher_events_per_cpu_s']))} events per CPU-s vs naive ${fmtInt(Number(f['naive_events_per_cpu_s']))} = ${Number(f['ratio'])}x`;
    case 'sub-rules':
      return `subscriber with ${Number(f['entries'])} entries vs 1: ${Number(f['ratio'])} (${Number(f['skips_ratio'])} with 10 skipped decisions per event)`;
    case 'topology':
      return `2 routers + 2 subs vs 1 + 1: split ${Number(f['split_ratio'])} in events/s, ${Number(f['split_cpu_ratio'])} in CPU/event; shared ${Number(f['shared_ratio'])}, ${Number(f['shared_cpu_ratio'])}`;
    default:
      return '';
  }
}

async function main(): Promise<number> {
  const outcomes: Outcome[] = [];
  for (const name of BENCHES) {
    process.stderr.write(`\n=== bench/${name}.ts ===\n`);
    outcomes.push(await runBench(name));
  }
  printTable(
    'All benches',
    ['bench', 'exit', 'seconds', 'headline'],
    outcomes.map((o) => [o.name, String(o.code), o.seconds.toFixed(1), headline(o)]),
  );
  printJson({
    bench: 'all',
    results: Object.fromEntries(outcomes.map((o) => [o.name, { exit: o.code, seconds: round(o.seconds, 1), figures: o.figures ?? null }])),
  });
  return outcomes.every((o) => o.code === 0) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`run-all: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
