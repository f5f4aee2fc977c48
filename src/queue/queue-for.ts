import { createHash } from 'node:crypto';
import type { HandlerJobData } from './job.js';

/**
 * The BullMQ queue of each handler: `<queue.name>.h.<hash of its id>`. BullMQ refuses ":"
 * in queue names, hence the hash. The id (driver, handler string, options and rules), not
 * the key: one handler matched under two overlapping keys (`local:*` and `local:disk.*`)
 * has one queue, so BullMQ's job id (event id + handler id) still runs it once per event.
 * Its policies are not part of the id: changing them keeps the queue.
 */
export function entryQueueName(base: string, id: string): string {
  return `${base}.h.${createHash('sha256').update(id).digest('hex').slice(0, 16)}`;
}

/**
 * Where a job goes: the only routing decision, so that other kinds of queue (a per-actor
 * queue for targeted jobs) slot in here.
 */
export function queueFor(data: HandlerJobData, base: string): string {
  return entryQueueName(base, data.handler.id);
}

/**
 * The two queues every job went to before per-entry queues (`<name>` and
 * `<name>-exclusive`): workers still drain them while they hold jobs, and `dlq` and
 * `status` still read them.
 */
export function legacyQueueNames(base: string): string[] {
  return [base, `${base}-exclusive`];
}
