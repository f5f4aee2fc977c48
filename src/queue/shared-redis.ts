import { Redis, type RedisOptions } from 'ioredis';
import { redisConnection } from './connection.js';

/**
 * One ioredis connection for every per-entry Queue (and the non-blocking side of every
 * per-entry Worker) of a process, with BullMQ's connection options. BullMQ accepts an
 * instance and does not close it; each Worker still opens one blocking connection of its
 * own (a blocking read cannot share a connection). Closed by its owner with `quit()`.
 * `overrides`: readers that must fail fast turn the offline queue off.
 */
export function sharedRedis(url: string, overrides: Omit<RedisOptions, 'replyMapping'> = {}): Redis {
  const { url: u, ...rest } = redisConnection(url) as { url: string };
  const options: Omit<RedisOptions, 'replyMapping'> = { ...rest, ...overrides };
  return new Redis(u, options);
}
