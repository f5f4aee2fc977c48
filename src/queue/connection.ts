import { bullConnection, type BullConnection } from '../redis/redis-client.js';

/**
 * The BullMQ connection for a Redis address (plain, Sentinel or Cluster: redis/redis-address.ts),
 * with what closes it once the queues or workers using it are closed. (Not BullMQ options:
 * pass `.connection` to a Queue or Worker, and call `.close()` after closing them.)
 */
export function queueConnection(url: string, failFast = false): BullConnection {
  return bullConnection(url, 'event-reactor', failFast);
}

/** Queue names: handlers with `exclusive: true` go to their own queue, run one at a time. */
export function queueNames(name: string): { normal: string; exclusive: string } {
  return { normal: name, exclusive: `${name}-exclusive` };
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
