import { spawn, type ChildProcess } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { access, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ServiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { freePort } from './free-port.js';
import { waitFor } from './wait-for.js';

/** A server process started for quickstart or tests, owned by whoever started it. */
export interface LocalService {
  /** Short name: `redis`, `ferretdb` or `mongod`. */
  readonly name: string;
  /** Connection URL, e.g. `redis://127.0.0.1:41234`. */
  readonly url: string;
  /** Process id of the server. */
  readonly pid: number;
  /**
   * Stop the server: SIGTERM, then SIGKILL if it has not exited after 3 s; then remove its
   * temporary directory. Idempotent: every call returns the same promise.
   */
  stop(): Promise<void>;
}

/** Options for {@link launchService}. */
export interface LaunchServiceOptions {
  /** Short name, used for the temp directory, the log file (`<dir>/<name>.log`) and messages. */
  name: string;
  /** Executable to run (absolute path or a name on PATH). */
  command: string;
  /** Arguments for a server on `port` keeping its data in the fresh directory `dir`. */
  args(port: number, dir: string): string[];
  /** Connection URL of a server on `port`. */
  url(port: number): string;
  /** One readiness probe; resolve `true` once the server answers. May throw (counts as "not yet"). */
  ready(port: number): Promise<boolean>;
  log: Logger;
  /** How long to wait for readiness per attempt, in ms; default 30000. */
  timeoutMs?: number;
  /** Start attempts (a fresh port each) when the process exits before it is ready; default 3. */
  attempts?: number;
  /** Time between SIGTERM and SIGKILL on stop, in ms; default 3000. */
  killAfterMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_ATTEMPTS = 3;
const DEFAULT_KILL_AFTER_MS = 3_000;
const READY_POLL_MS = 50;
const LOG_TAIL_BYTES = 4096;

/**
 * Start a server on a free 127.0.0.1 port with a fresh temporary data directory, and wait
 * until `ready` says it answers. stdout and stderr go to `<dir>/<name>.log`.
 *
 * If the process exits before it is ready (typically because another process took the
 * port in between), it is retried on a new port, up to `attempts` times.
 *
 * @throws {ServiceError} when the process cannot be spawned, keeps exiting, or is not ready
 *   in time; the message includes the tail of its log
 */
export async function launchService(options: LaunchServiceOptions): Promise<LocalService> {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(attempts >= 1)) throw new RangeError(`launchService: attempts must be >= 1, got ${attempts}`);
  if (!(timeoutMs > 0)) throw new RangeError(`launchService: timeoutMs must be > 0, got ${timeoutMs}`);

  const log = options.log.child({ service: options.name });
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const started = Date.now();
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), `event-reactor-${options.name}-`));
    const proc = await spawnService({
      name: options.name,
      command: options.command,
      args: options.args(port, dir),
      url: options.url(port),
      dir,
      log,
      killAfterMs: options.killAfterMs ?? DEFAULT_KILL_AFTER_MS,
    });
    try {
      await waitFor(() => options.ready(port), {
        timeoutMs,
        intervalMs: READY_POLL_MS,
        what: `${options.name} on 127.0.0.1:${port}`,
        signal: proc.exited,
      });
      log.debug({ url: proc.service.url, childPid: proc.service.pid, dir, ms: Date.now() - started }, 'service ready');
      return proc.service;
    } catch (err) {
      const tail = await proc.logTail();
      const exitedEarly = proc.exited.aborted;
      await proc.service.stop();
      lastError = new ServiceError(
        `${options.name} (${options.command}) did not become ready on 127.0.0.1:${port}: ` +
          `${err instanceof Error ? err.message : String(err)}` +
          (tail ? `\n--- ${options.name}.log (tail) ---\n${tail}` : ''),
        { cause: err },
      );
      if (!exitedEarly || attempt === attempts) break;
      log.debug({ attempt, port }, 'service exited before ready; retrying on a new port');
    }
  }
  throw lastError;
}

/**
 * Find an executable on PATH (or check a path containing a slash).
 *
 * @returns its path, or undefined when there is none
 */
export async function findExecutable(name: string): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when `path` exists and may be executed by this process. */
export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

interface SpawnServiceOptions {
  name: string;
  command: string;
  args: string[];
  url: string;
  dir: string;
  log: Logger;
  killAfterMs: number;
}

interface SpawnedService {
  service: LocalService;
  /** Aborted when the process has exited, for any reason; the reason is a ServiceError. */
  exited: AbortSignal;
  logTail(): Promise<string>;
}

/** Spawn the server process; takes ownership of `dir` (removed on stop or on spawn failure). */
async function spawnService(options: SpawnServiceOptions): Promise<SpawnedService> {
  const { name, command, args, url, dir, log, killAfterMs } = options;
  const logFile = join(dir, `${name}.log`);
  let fd: number | undefined;
  let child: ChildProcess;
  try {
    fd = openSync(logFile, 'a');
    // Not detached: a Ctrl-C in the terminal reaches the server too.
    child = spawn(command, args, { cwd: dir, stdio: ['ignore', fd, fd] });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new ServiceError(`could not start ${name} (${command})`, { cause: err });
  } finally {
    // The child holds its own copy of the descriptor.
    if (fd !== undefined) closeSync(fd);
  }

  const exitController = new AbortController();
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitController.abort(new ServiceError(`${name} exited ${signal ? `on signal ${signal}` : `with code ${String(code)}`}`));
      log.debug({ code, signal }, 'service exited');
      resolve();
    });
  });

  const pid = child.pid;
  if (pid === undefined) {
    const err = await new Promise<unknown>((resolve) => child.once('error', resolve));
    await rm(dir, { recursive: true, force: true });
    throw new ServiceError(`could not start ${name} (${command}): ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  child.on('error', (err) => log.warn({ err }, 'service process error'));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      if (!exitController.signal.aborted) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => {
          log.warn({ childPid: pid, killAfterMs }, 'service ignored SIGTERM; sending SIGKILL');
          child.kill('SIGKILL');
        }, killAfterMs);
        await exitedPromise;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })());

  return {
    service: { name, url, pid, stop },
    exited: exitController.signal,
    logTail: () => readTail(logFile, LOG_TAIL_BYTES),
  };
}

/** Last `bytes` of a file as text; empty when it cannot be read. */
async function readTail(file: string, bytes: number): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, bytes);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').trimEnd();
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}
