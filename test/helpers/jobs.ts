import type { JobQueue } from '../../src/queue/job-queue.js';
import { jobIdFor } from '../../src/queue/job.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { uniqueName } from './services.js';
import { sampleEvent } from './events.js';

/** Enqueue one job for the first handler under `key` (a new event), as the subscriber would. */
export async function enqueueFirstHandler(queue: JobQueue, table: Map<string, HandlerSpec[]>, key: string): Promise<{ eventId: string; jobId: string }> {
  const spec = table.get(key)?.[0];
  if (!spec) throw new Error(`no handler under ${key}`);
  const [namespace, eventType] = key.split(':') as [string, string];
  const id = uniqueName('ev');
  await queue.addBulk([{ event: sampleEvent({ id, trace_id: id, namespace, event_type: eventType }), handler: spec }]);
  return { eventId: id, jobId: jobIdFor(id, spec.id) };
}
