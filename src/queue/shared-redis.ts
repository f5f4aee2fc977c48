import type { Redis } from 'ioredis';
import { createRedis } from '../redis/redis-client.js';

/**
 * One ioredis client (plain, Sentinel or Cluster, from the address: redis/redis-client.ts)
 * for every per-entry Queue, and the non-blocking side of every per-entry Worker, of a
 * process. BullMQ accepts an instance and does not close it; each Worker still opens one
 * blocking connection of its own (a blocking read cannot share a connection). Closed by
 * its owner with `quit()`. `failFast`: commands fail at once while Redis is away, and
 * reconnects are tried each second (for readers such as queue counts).
 */
export function sharedRedis(url: string, failFast = false): Redis {
  return createRedis(url, {
    maxRetriesPerRequest: null,
    enableOfflineQueue: !failFast,
    connectionName: 'event-reactor',
    ...(failFast ? { retryStrategy: () => 1000 } : {}),
  });
}
