import { createHash } from 'node:crypto';
import type { HandlerJobData } from './job.js';

/**
 * The BullMQ queue of each handler entry: `<queue.name>.h.<hash of key and id>`. BullMQ
 * refuses ":" in queue names, and keys have one, hence the hash; key and id together are
 * the entry's identity (its policies are not part of it: changing them keeps the queue).
 */
export function entryQueueName(base: string, key: string, id: string): string {
  return `${base}.h.${createHash('sha256').update(`${key}\0${id}`).digest('hex').slice(0, 16)}`;
}

/**
 * Where a job goes: the only routing decision, so that other kinds of queue (a per-actor
 * queue for targeted jobs) slot in here.
 */
export function queueFor(data: HandlerJobData, base: string): string {
  return entryQueueName(base, data.handler.key, data.handler.id);
}

/**
 * The two queues every job went to before per-entry queues (`<name>` and
 * `<name>-exclusive`): workers still drain them while they hold jobs, and `dlq` and
 * `status` still read them.
 */
export function legacyQueueNames(base: string): string[] {
  return [base, `${base}-exclusive`];
}
