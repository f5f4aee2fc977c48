import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mongoServerCommand, pingMongo } from '../../../src/devstack/mongo-server.js';
import { freePort } from '../../../src/devstack/free-port.js';
import { ensureRedisServer, pingRedis, redisArgs } from '../../../src/devstack/redis-server.js';
import { silentLogger } from '../../../src/logger.js';
import { waitFor } from '../../../src/devstack/wait-for.js';
import { Proc } from './processes.js';

/** `listenAll`: listen on every address (a throwaway server other hosts, network namespaces, reach). */
export interface ListenOptions {
  listenAll?: boolean;
}

/**
 * A server owned by one fault scenario, on its own port and data directory, that can be
 * killed and started again on the same port with the same data: the outage scenarios
 * need what was stored before the outage to be there after it.
 */
export class RestartableServer {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The URL as another host (a network namespace) reaches this one at `host`; see `listenAll`. */
  readonly urlFor: (host: string) => string;
  readonly #proc: Proc;
  readonly #ready: () => Promise<boolean>;

  private constructor(name: string, port: number, url: string, dir: string, proc: Proc, ready: () => Promise<boolean>) {
    this.name = name;
    this.port = port;
    this.url = url;
    this.urlFor = (host) => url.replace('127.0.0.1', host);
    this.dir = dir;
    this.#proc = proc;
    this.#ready = ready;
  }

  /**
   * Redis with an append-only file fsynced on every write, so a kill -9 loses nothing
   * Redis acknowledged (BullMQ's jobs must survive the outage).
   */
  static async redis(o: ListenOptions = {}): Promise<RestartableServer> {
    const command = await ensureRedisServer(silentLogger());
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'er-fault-redis-'));
    // Reachable from other hosts: then with a password.
    const password = o.listenAll ? randomBytes(12).toString('hex') : undefined;
    const args = redisArgs(port, dir, { durable: true, ...(password ? { password, bind: '0.0.0.0' } : {}) });
    const proc = new Proc({ name: 'redis', command, args, cwd: dir, logFile: join(dir, 'redis.log') });
    const url = `redis://${password ? `:${password}@` : ''}127.0.0.1:${port}`;
    const server = new RestartableServer('redis', port, url, dir, proc, () => pingRedis('127.0.0.1', port, password ? { password } : {}));
    await server.start();
    return server;
  }

  /** FerretDB on SQLite (or mongod when one is on PATH), data in a directory kept across restarts. */
  static async mongo(o: ListenOptions = {}): Promise<RestartableServer> {
    const { name, command, args } = await mongoServerCommand(silentLogger());
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'er-fault-mongo-'));
    const proc = new Proc({ name, command, args: args(port, dir, o.listenAll ? '0.0.0.0' : '127.0.0.1'), cwd: dir, logFile: join(dir, 'server.log') });
    const server = new RestartableServer(name, port, `mongodb://127.0.0.1:${port}/`, dir, proc, () => pingMongo(port));
    await server.start();
    return server;
  }

  /** Start (or start again) on the same port and data directory; resolves once it answers. */
  async start(): Promise<void> {
    this.#proc.start();
    const exited = new AbortController();
    void this.#proc.exited.then((code) => exited.abort(new Error(`${this.name} exited (${code})`)));
    await waitFor(this.#ready, { timeoutMs: 30_000, intervalMs: 50, what: `${this.name} on port ${this.port}`, signal: exited.signal }).catch(
      async (err: unknown) => {
        throw new Error(`${(err as Error).message}\n${await this.#proc.logTail()}`, { cause: err });
      },
    );
  }

  /** kill -9: no chance to flush anything it had not already made durable. */
  async kill(): Promise<void> {
    await this.#proc.kill('SIGKILL');
  }

  /** Stop for good and remove the data directory. */
  async destroy(): Promise<void> {
    await this.#proc.stop(3000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
