import type { ReactorEvent } from '../event/event.js';
import type { HandlerSpec } from '../handlers/spec.js';

/** What a BullMQ job carries: the whole event and the handler that matched it. */
export interface HandlerJobData {
  event: ReactorEvent;
  handler: HandlerSpec;
}

/**
 * Job id from event id and handler id, so the same event never runs a handler twice
 * while the job is kept. BullMQ refuses ":" in custom ids, so `%` and `:` in the event
 * id are percent-encoded (which keeps distinct event ids distinct).
 */
export function jobIdFor(eventId: string, handlerId: string): string {
  return `${eventId.replaceAll('%', '%25').replaceAll(':', '%3A')}.${handlerId}`;
}
