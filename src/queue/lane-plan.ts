import type { HandlerSpec } from '../handlers/spec.js';
import type { EntryPolicy } from '../handlers/spec.js';
import { entryQueueName } from './queue-for.js';

/** One queue a worker process should take jobs from. */
export interface LaneWant {
  name: string;
  /** The entry of this worker's table the queue is for; undefined for a queue its table lacks (drained: its jobs are refused). */
  spec?: HandlerSpec;
  policy?: EntryPolicy;
  /** Handler slots of this process its jobs may hold at once (and BullMQ's concurrency for it). */
  cap: number;
}

/**
 * Handler slots one entry may hold in a process of `concurrency` slots: all of them when
 * it is the only queue, else one less, so that an entry whose handlers hang leaves a slot
 * to the others; never more than its own `concurrency` (1 when exclusive).
 */
export function laneCap(concurrency: number, queues: number, policy: EntryPolicy | undefined): number {
  const share = queues > 1 && concurrency > 1 ? concurrency - 1 : concurrency;
  return Math.min(share, policy?.concurrency ?? share);
}

/**
 * The queues a worker drains: one per entry of its table, plus each registered queue its
 * table lacks that still holds unfinished jobs (`pending`: an entry removed or not yet
 * in this worker's file, or the two queues of before per-entry queues).
 */
export function planLanes(base: string, specs: readonly HandlerSpec[], pending: ReadonlyMap<string, number>, concurrency: number): LaneWant[] {
  const wants = new Map<string, Omit<LaneWant, 'cap' | 'name'>>();
  for (const spec of specs) wants.set(entryQueueName(base, spec.key, spec.id), { spec, ...(spec.policy ? { policy: spec.policy } : {}) });
  for (const [name, n] of pending) if (n > 0 && !wants.has(name)) wants.set(name, {});
  return [...wants].map(([name, w]) => ({ name, ...w, cap: laneCap(concurrency, wants.size, w.policy) }));
}
