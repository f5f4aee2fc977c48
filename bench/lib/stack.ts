import type { ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../src/devstack/free-port.js';
import { exited, type ProcessSet } from './processes.js';

/**
 * Loopback ports for a router: PULL (feeders), REP (fire), PUB and replay. The replay
 * port is free like the others, so a bench does not collide with another router running
 * on the same machine at the default `router.replay_bind`.
 */
export interface RouterPorts {
  pull: number;
  rep: number;
  pub: number;
  replay: number;
}

export async function routerPorts(): Promise<RouterPorts> {
  return { pull: await freePort(), rep: await freePort(), pub: await freePort(), replay: await freePort() };
}

/** A name no other run uses: letters, digits, `_`; valid for a database and a queue. */
export function runName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export interface BenchConfigOptions {
  dir: string;
  ports: RouterPorts;
  logLevel: string;
  redisUrl?: string;
  mongoUrl?: string;
  database?: string;
  queue?: string;
  /** `namespace:event_type` -> tsfunc handler strings (`module.function`). */
  handlers?: Record<string, string[]>;
  /** tsfunc modules to write into the handler directory: file name -> source. */
  modules?: Record<string, string>;
}

/**
 * Write config.json (the etc/config.json format, loopback ports), event-handlers.json and
 * the handler directory into `dir`. Returns the config path.
 */
export async function writeBenchConfig(o: BenchConfigOptions): Promise<string> {
  const handlersDir = join(o.dir, 'event-handlers');
  await mkdir(handlersDir, { recursive: true });
  for (const [file, source] of Object.entries(o.modules ?? {})) await writeFile(join(handlersDir, file), source);
  const handlers = Object.fromEntries(
    Object.entries(o.handlers ?? {}).map(([key, list]) => [key, list.map((handler) => ({ driver: 'tsfunc', handler, exclusive: false }))]),
  );
  await writeFile(join(o.dir, 'event-handlers.json'), `${JSON.stringify(handlers, null, 2)}\n`);
  const config = {
    aggregator: { config: { listen_address: '127.0.0.1', port: o.ports.pull, protocol: 'tcp', type: 'zmq.PULL', namespace: 'local' } },
    feeds: { feeders: [{ handler: 'ZMQInput', config: { uri: `tcp://127.0.0.1:${o.ports.rep}`, namespace: 'local', type: 'zmq.REP' } }] },
    outputs: [{ handler: 'zeromq', config: { protocol: 'tcp', port: o.ports.pub, listen_address: '127.0.0.1', type: 'zmq.PUB', framing: 'multipart' } }],
    logging: { loglevel: o.logLevel },
    router: { replay_bind: `tcp://127.0.0.1:${o.ports.replay}` },
    ...(o.mongoUrl ? { mongodb: { url: o.mongoUrl, database: o.database ?? 'event_reactor' } } : {}),
    ...(o.redisUrl ? { redis: { url: o.redisUrl } } : {}),
    event_handlers_dir: 'event-handlers',
    event_handlers: 'event-handlers.json',
    ...(o.queue ? { queue: { name: o.queue, prefix: 'bull' } } : {}),
  };
  const file = join(o.dir, 'config.json');
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

/** A daemon started from bin/ with its stdout and stderr in a log file. */
export interface DaemonProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  logFile: string;
}

/** Run `node bin/<bin> -c <config> ...args` as an operator would, logging to `<logDir>/<bin>.log`. */
export function startDaemon(procs: ProcessSet, root: string, bin: string, config: string, args: readonly string[], logDir: string): DaemonProcess {
  const logFile = join(logDir, `${bin}.log`);
  const fd = openSync(logFile, 'a');
  try {
    const child = procs.spawn(
      process.execPath,
      [...(process.env['BENCH_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_PROF']}`] : []), join(root, 'bin', bin), '-c', config, ...args],
      { cwd: root, stdio: ['ignore', fd, fd] },
    );
    if (child.pid === undefined) throw new Error(`cannot start ${bin}`);
    return { name: bin, child, pid: child.pid, logFile };
  } finally {
    closeSync(fd);
  }
}

/** Parsed JSON lines of a log file (other lines skipped). */
export function readLogLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  for (const text of readFileSync(file, 'utf8').split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      out.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      // A line being written right now.
    }
  }
  return out;
}

/** Last `bytes` of a log file, for error messages. */
export function logTail(file: string, bytes = 2000): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  return text.slice(-bytes);
}

/** Wait until the daemon logs a line with `msg`; fails when it exits first or after `timeoutMs`. */
export async function waitForLog(d: DaemonProcess, msg: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = performance.now() + timeoutMs;
  let gone = false;
  void exited(d.child).then(
    () => (gone = true),
    () => (gone = true),
  );
  for (;;) {
    const line = readLogLines(d.logFile).find((l) => l['msg'] === msg);
    if (line) return line;
    if (gone) throw new Error(`${d.name} exited before logging "${msg}":\n${logTail(d.logFile)}`);
    if (performance.now() > deadline) throw new Error(`${d.name} did not log "${msg}" within ${timeoutMs} ms:\n${logTail(d.logFile)}`);
    await sleep(100);
  }
}

/** Log lines at warn level or above (pino levels >= 40), for the problems report. */
export function logProblems(file: string): Record<string, unknown>[] {
  return readLogLines(file).filter((l) => typeof l['level'] === 'number' && l['level'] >= 40);
}
