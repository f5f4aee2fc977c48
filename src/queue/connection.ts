import type { ConnectionOptions } from 'bullmq';

/** BullMQ connection options for a Redis URL. Workers need `maxRetriesPerRequest: null`. */
export function redisConnection(url: string): ConnectionOptions {
  return { url, maxRetriesPerRequest: null, enableOfflineQueue: true, connectionName: 'event-reactor' };
}

/**
 * One round trip to Redis on a BullMQ connection: its status must be `ready` (ioredis says
 * `reconnecting` while Redis is away) and a read must come back.
 *
 * @throws {Error} saying what state the connection is in
 */
export async function redisRoundTrip(client: { status: string; get(key: string): Promise<string | null> }): Promise<void> {
  if (client.status !== 'ready') throw new Error(`connection is ${client.status}`);
  await client.get('event-reactor:ping');
}
