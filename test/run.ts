/**
 * Test runner wrapper: `node --import tsx test/run.ts [files...]`.
 *
 * Starts Redis and MongoDB (FerretDB) unless REDIS_URL / MONGO_URL are set, runs node's
 * test runner on the given files (default: every *.test.ts under test/unit,
 * test/integration and test/e2e) with those URLs in its environment, passes its output
 * through unchanged, stops the servers and exits with the test runner's exit code.
 * First SIGINT/SIGTERM is passed to the tests; a second one kills everything at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startLocalServices, type LocalServices } from '../src/devstack/services.js';
import { createLogger, toPinoLevel } from '../src/logger.js';

const TEST_DIRS = ['unit', 'integration', 'e2e'];
const NODE_TEST_ARGS = ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000'];
/** After a first signal, how long the tests get to finish before SIGKILL. */
const CHILD_GRACE_MS = 10_000;

function say(message: string): void {
  process.stderr.write(`test/run: ${message}\n`);
}

/** Every *.test.ts under test/unit, test/integration and test/e2e, relative to cwd, sorted. */
function defaultTestFiles(testRoot: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.test.ts')) files.push(relative(process.cwd(), path));
    }
  };
  for (const sub of TEST_DIRS) {
    const dir = join(testRoot, sub);
    if (existsSync(dir)) walk(dir);
  }
  return files.sort();
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

async function main(): Promise<number> {
  const testRoot = dirname(fileURLToPath(import.meta.url));
  const args = process.argv.slice(2);
  const files = args.length > 0 ? args : defaultTestFiles(testRoot);
  if (files.length === 0) {
    say(`no *.test.ts files under ${TEST_DIRS.map((d) => join(relative(process.cwd(), testRoot), d)).join(', ')}`);
    return 1;
  }

  let services: LocalServices | undefined;
  let child: ChildProcess | undefined;
  let signalled: NodeJS.Signals | undefined;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      say(`second ${signal}: killing tests and servers now`);
      child?.kill('SIGKILL');
      for (const s of services?.started ?? []) {
        try {
          process.kill(s.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.exit(exitCodeOf(null, signal));
    }
    signalled = signal;
    say(`${signal}: stopping tests (again to force)`);
    if (child) {
      child.kill(signal);
      setTimeout(() => child?.kill('SIGKILL'), CHILD_GRACE_MS).unref();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const log = createLogger({
    level: toPinoLevel(process.env.TEST_LOG_LEVEL ?? 'info') ?? 'info',
    name: 'test/run',
    destination: pino.destination({ dest: 2, sync: true }),
  });

  try {
    services = await startLocalServices({ redisUrl: process.env.REDIS_URL, mongoUrl: process.env.MONGO_URL, log });
  } catch (err) {
    say(`could not start services: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }

  try {
    for (const s of services.started) say(`started ${s.name} at ${s.url} (pid ${s.pid})`);
    if (signalled) return exitCodeOf(null, signalled);

    const env = { ...process.env, REDIS_URL: services.redisUrl, MONGO_URL: services.mongoUrl };
    const running = spawn(process.execPath, [...NODE_TEST_ARGS, ...files], { stdio: 'inherit', env });
    child = running;
    return await new Promise<number>((resolve) => {
      running.once('error', (err) => {
        say(`could not run node --test: ${err.message}`);
        resolve(1);
      });
      running.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)));
    });
  } finally {
    await services.stop().catch((err: unknown) => {
      say(`could not stop services: ${err instanceof Error ? err.message : String(err)}`);
    });
  }
}

process.exitCode = await main();
