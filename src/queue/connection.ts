import type { ConnectionOptions } from 'bullmq';

/** BullMQ connection options for a Redis URL. Workers need `maxRetriesPerRequest: null`. */
export function redisConnection(url: string): ConnectionOptions {
  return { url, maxRetriesPerRequest: null, enableOfflineQueue: true, connectionName: 'event-reactor' };
}

/** Queue names: handlers with `exclusive: true` go to their own queue, run one at a time. */
export function queueNames(name: string): { normal: string; exclusive: string } {
  return { normal: name, exclusive: `${name}-exclusive` };
}
