import { Queue } from 'bullmq';
import { QueueError } from '../errors.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { redact } from '../redact.js';
import type { QueueSettings } from '../config/settings.js';
import { queueNames, redisConnection } from './connection.js';

/** Job states counted by {@link readQueueCounts}. */
const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/** Jobs per state, per BullMQ queue name. */
export type QueueCounts = Record<string, Record<(typeof STATES)[number], number>>;

/**
 * How many handler jobs each queue holds, by state. Fails fast: a Redis that does not
 * answer within `timeoutMs` is an error, not a hang.
 *
 * @throws {QueueError} naming the Redis URL (password hidden) when it cannot be read
 */
export async function readQueueCounts(redisUrl: string, queue: QueueSettings, timeoutMs = 3000): Promise<QueueCounts> {
  const names = queueNames(queue.name);
  const connection = { ...redisConnection(redisUrl), enableOfflineQueue: false, retryStrategy: () => null };
  const queues = [names.normal, names.exclusive].map((n) => new Queue(n, { connection, prefix: queue.prefix }));
  for (const q of queues) q.on('error', () => undefined);
  try {
    const counts: QueueCounts = {};
    for (const q of queues) {
      const reading = q.getJobCounts(...STATES);
      if (!(await settlesWithin(reading, timeoutMs))) throw new Error(`no answer within ${timeoutMs} ms`);
      counts[q.name] = (await reading) as QueueCounts[string];
    }
    return counts;
  } catch (err) {
    throw new QueueError(`cannot read the queues at ${redact(redisUrl)}: ${(err as Error).message}`, { cause: err });
  } finally {
    await Promise.allSettled(queues.map((q) => q.close()));
  }
}
