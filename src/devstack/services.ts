import type { Logger } from '../logger.js';
import { startMongo } from './mongo-server.js';
import type { LocalService } from './local-service.js';
import { startRedis } from './redis-server.js';

/** Options for {@link startLocalServices}. */
export interface LocalServicesOptions {
  /** Use this Redis as it is; when unset or empty, start one. */
  redisUrl?: string | undefined;
  /** Use this MongoDB as it is; when unset or empty, start one (mongod or FerretDB). */
  mongoUrl?: string | undefined;
  log: Logger;
}

/** The Redis and MongoDB to use, and the servers started for them. */
export interface LocalServices {
  redisUrl: string;
  mongoUrl: string;
  /** Servers started by this call (none for URLs that were given). */
  started: LocalService[];
  /** Stop every started server. Idempotent: every call returns the same promise. */
  stop(): Promise<void>;
  /**
   * SIGKILL every started server at once, synchronously: for a process about to be forced
   * out (second signal, shutdown deadline), where {@link stop} would not get to finish.
   * Their temporary directories stay behind.
   */
  killNow(): void;
}

/**
 * Make sure there is a Redis and a MongoDB to talk to: given URLs are used as they are,
 * and whatever is missing is started locally, Redis and MongoDB in parallel.
 *
 * If one of them fails to start, the other is stopped before the error is thrown.
 *
 * @throws {ServiceError} when a server cannot be installed or started
 */
export async function startLocalServices(options: LocalServicesOptions): Promise<LocalServices> {
  const { log } = options;
  const [redis, mongo] = await Promise.allSettled([provide(options.redisUrl, () => startRedis({ log })), provide(options.mongoUrl, () => startMongo({ log }))]);

  const started = [redis, mongo].flatMap((r) => (r.status === 'fulfilled' && r.value.service ? [r.value.service] : []));
  if (redis.status === 'rejected' || mongo.status === 'rejected') {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw redis.status === 'rejected' ? redis.reason : (mongo as PromiseRejectedResult).reason;
  }

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= Promise.allSettled(started.map((s) => s.stop())).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }));

  const killNow = (): void => {
    for (const s of started) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };

  return { redisUrl: redis.value.url, mongoUrl: mongo.value.url, started, stop, killNow };
}

interface Provided {
  url: string;
  service?: LocalService;
}

/** Use `url` when given, otherwise start a server and use its URL. */
async function provide(url: string | undefined, start: () => Promise<LocalService>): Promise<Provided> {
  if (url) return { url };
  const service = await start();
  return { url: service.url, service };
}
