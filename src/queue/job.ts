import type { ReactorEvent } from '../event/event.js';
import type { HandlerSpec } from '../handlers/spec.js';
import type { OrderTicket } from './order-tickets.js';

/**
 * What a BullMQ job carries: the whole event and the handler entry that matched it. The
 * worker runs the entry its own table has under the same key and id, never a command
 * taken from the job: whoever can write to Redis cannot make a worker run anything else.
 */
export interface HandlerJobData {
  event: ReactorEvent;
  handler: HandlerSpec;
  /** Debounced: run only if the event is still the latest of its group (`key` in the rules state). */
  debounce?: { delayMs: number; key: string };
  /** The entry has `order_by`: the job's place among the events of its value (see order-tickets.ts). */
  order?: OrderTicket;
}

/**
 * Job id from event id and handler id, so the same event never runs a handler twice
 * while the job is kept. BullMQ refuses ":" in custom ids, so `%` and `:` in the event
 * id are percent-encoded (which keeps distinct event ids distinct).
 */
export function jobIdFor(eventId: string, handlerId: string): string {
  return `${eventId.replaceAll('%', '%25').replaceAll(':', '%3A')}.${handlerId}`;
}
