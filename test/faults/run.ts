/**
 * Fault suite runner: `node --import tsx test/faults/run.ts [files...]` (`npm run test:faults`).
 *
 * Runs the fault scenarios (default: every test/faults/*.test.ts) one file at a time, as
 * each starts its own Redis, MongoDB and daemons and measures time; then prints a table
 * of the summary lines the scenarios wrote. Not part of `npm test` (test/run.ts walks
 * only unit, integration and e2e). Settings: FAULT_EVENTS (default 10000), FAULT_OUTAGE_S
 * (30), FAULT_RATE (500 events/s), FAULT_TEST_TIMEOUT_S (600 per scenario).
 * First SIGINT/SIGTERM is passed to the tests; a second one kills them.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function say(message: string): void {
  process.stderr.write(`test/faults: ${message}\n`);
}

const COLUMNS: [string, string][] = [
  ['scenario', 'scenario'],
  ['sent', 'sent'],
  ['archived', 'archived'],
  ['distinct_archived', 'distinct'],
  ['results', 'results'],
  ['distinct_results', 'distinct'],
  ['duplicates', 'dups'],
  ['lost', 'lost'],
  ['dead', 'dead'],
  ['seconds', 's'],
];

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

function table(rows: Record<string, unknown>[]): string {
  const cells = [COLUMNS.map(([, h]) => h), ...rows.map((r) => COLUMNS.map(([k]) => cell(r[k])))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')).join('\n');
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const files =
    args.length > 0
      ? args
      : readdirSync(here)
          .filter((f) => f.endsWith('.test.ts'))
          .sort()
          .map((f) => relative(process.cwd(), join(here, f)));
  const timeoutS = Number(process.env['FAULT_TEST_TIMEOUT_S'] ?? 600);
  const dir = mkdtempSync(join(tmpdir(), 'er-faults-'));
  const summaryFile = join(dir, 'summaries.jsonl');
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', `--test-timeout=${timeoutS * 1000}`, ...files], {
    stdio: 'inherit',
    env: { ...process.env, FAULT_SUMMARY_FILE: summaryFile },
  });
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      child.kill('SIGKILL');
      return;
    }
    signalled = true;
    say(`${signal}: stopping the scenarios (again to force)`);
    child.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await new Promise<number>((resolve) => {
    child.once('error', (err) => {
      say(`could not run node --test: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (c, s) => resolve(c ?? 128 + (s ? (constants.signals[s] ?? 0) : 0)));
  });
  let rows: Record<string, unknown>[] = [];
  try {
    rows = readFileSync(summaryFile, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch {
    // no scenario got as far as its summary
  }
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`\n${table(rows)}\n\nfault suite: ${rows.length} scenario(s), ${Math.round((Date.now() - started) / 1000)} s, exit ${code}\n`);
  return code;
}

process.exitCode = await main();
