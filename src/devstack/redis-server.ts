import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { ServiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { findExecutable, launchService, type LocalService } from './local-service.js';

const execFileAsync = promisify(execFile);

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  log: Logger;
  /** How long to wait for the server to answer PING, in ms; default 30000. */
  timeoutMs?: number;
}

/**
 * Path of `redis-server`. When it is not on PATH and this process runs as root, install it
 * with `apt-get install -y redis-server` first.
 *
 * @throws {ServiceError} when it is missing and cannot be installed here
 */
export async function ensureRedisServer(log: Logger): Promise<string> {
  const found = await findRedisServer();
  if (found) return found;

  const hint = 'install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL to a running server';
  if (process.getuid?.() !== 0) throw new ServiceError(`redis-server not found on PATH; ${hint}`);
  const aptGet = (await findExecutable('apt-get')) ?? (await findExecutable('/usr/bin/apt-get'));
  if (!aptGet) throw new ServiceError(`redis-server not found on PATH and apt-get is not available; ${hint}`);

  const started = Date.now();
  log.info({}, 'redis-server not found; installing it with apt-get');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'redis-server']]) {
    try {
      await execFileAsync(aptGet, args, { env, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      const stderr = (err as { stderr?: unknown }).stderr;
      const tail = typeof stderr === 'string' ? stderr.trim().split('\n').slice(-20).join('\n') : '';
      throw new ServiceError(`apt-get ${args.join(' ')} failed; ${hint}${tail ? `\n${tail}` : ''}`, { cause: err });
    }
  }
  const installed = await findRedisServer();
  if (!installed) throw new ServiceError(`apt-get installed redis-server but it is not on PATH or in /usr/bin; ${hint}`);
  log.info({ path: installed, ms: Date.now() - started }, 'installed redis-server');
  return installed;
}

/**
 * Start a throwaway Redis on a free 127.0.0.1 port with a generated password: no
 * persistence, not daemonized (so `stop()` can kill it), bound to loopback only. The
 * password is in its URL and in a config file in its private directory, never on its
 * command line (which every local user can read). Ready once it answers `PING`.
 *
 * @throws {ServiceError} when redis-server is missing and cannot be installed, or does not start
 */
export async function startRedis(options: StartRedisOptions): Promise<LocalService> {
  const command = await ensureRedisServer(options.log);
  const password = randomBytes(24).toString('base64url');
  return launchService({
    name: 'redis',
    command,
    args: (port, dir) => redisArgs(port, dir, { password }),
    url: (port) => `redis://:${password}@127.0.0.1:${port}`,
    ready: (port) => pingRedis('127.0.0.1', port, { password }),
    log: options.log,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}

/**
 * Arguments for a redis-server on `port` with its files in `dir`, not daemonized.
 * `durable`: an append-only file fsynced on every write, so a kill -9 loses nothing Redis
 * acknowledged; otherwise no persistence at all. `password`: written to `dir/auth.conf`
 * (mode 0600), which the arguments name, so it never shows in `ps`. `bind`: the addresses to
 * listen on (space-separated); default 127.0.0.1.
 */
export function redisArgs(port: number, dir: string, options: { durable?: boolean; password?: string; bind?: string } = {}): string[] {
  const persistence = options.durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const config: string[] = [];
  if (options.password !== undefined) {
    const file = join(dir, 'auth.conf');
    writeFileSync(file, `requirepass "${options.password}"\n`, { mode: 0o600 });
    config.push(file);
  }
  return [
    ...config,
    '--port',
    String(port),
    '--bind',
    options.bind ?? '127.0.0.1',
    '--protected-mode',
    'yes',
    '--save',
    '',
    ...persistence,
    '--daemonize',
    'no',
    '--dir',
    dir,
  ];
}

/**
 * Send one `PING` (after `AUTH` when a password is given) over a raw TCP connection.
 *
 * @returns true when the reply is `+PONG`; false on any other reply (e.g. `-LOADING`)
 * @throws when the connection fails or no reply arrives within `timeoutMs`
 */
export function pingRedis(host: string, port: number, options: { password?: string; timeoutMs?: number } = {}): Promise<boolean> {
  const timeoutMs = options.timeoutMs ?? 1000;
  const expected = options.password === undefined ? 1 : 2;
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let reply = '';
    const finish = (err: Error | undefined, ok = false): void => {
      socket.destroy();
      if (err) reject(err);
      else resolve(ok);
    };
    const pong = (): boolean => reply.split('\r\n').slice(0, expected).at(-1) === '+PONG';
    socket.setTimeout(timeoutMs, () => finish(new Error(`no reply to PING within ${timeoutMs} ms`)));
    socket.once('error', (err) => finish(err));
    socket.once('connect', () => {
      // RESP arrays, so a password with spaces or quotes needs no escaping.
      const auth = options.password === undefined ? '' : `*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(options.password)}\r\n${options.password}\r\n`;
      socket.write(`${auth}PING\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.split('\r\n').length > expected) finish(undefined, pong());
    });
    socket.once('end', () => finish(undefined, pong()));
  });
}

async function findRedisServer(): Promise<string | undefined> {
  return (await findExecutable('redis-server')) ?? (await findExecutable('/usr/bin/redis-server')) ?? (await findExecutable('/usr/sbin/redis-server'));
}
