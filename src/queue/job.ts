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
  /**
   * Hash of the handler table the subscriber decided with (`RuleTable.hash`): a worker
   * whose table differs and lacks the job's entry waits a while for its own reload.
   */
  table?: string;
  /** The entry has `order_by`: the job's place among the events of its value (see order-tickets.ts). */
  order?: OrderTicket;
  /** Targeted (`"target"`): the actor whose queue it is in (see queue/actor-queues.ts). */
  actor?: string;
  /** One job of a `"target": "all"` fan-out: its id names the actor, so each actor runs it once. */
  fanout?: true;
  /** The target could not be resolved for this event (a path it lacks): a dead result says why. */
  targetRefusal?: string;
  /**
   * Put aside by a worker while its actor was away (see queue/absent-actors.ts): the end of
   * its wait for the actor, ms since the epoch. Cleared when the actor takes it back.
   */
  parked?: number;
}

/**
 * Job id from event id and handler id, so the same event never runs a handler twice
 * while the job is kept. BullMQ refuses ":" in custom ids, so `%` and `:` in the event
 * id are percent-encoded (which keeps distinct event ids distinct).
 */
export function jobIdFor(eventId: string, handlerId: string): string {
  return `${eventId.replaceAll('%', '%25').replaceAll(':', '%3A')}.${handlerId}`;
}

/** The job id of `data`: a fan-out job's names its actor too (`<job id>@<actor>`). */
export function jobIdOf(data: HandlerJobData): string {
  const id = jobIdFor(data.event.id, data.handler.id);
  return data.fanout && data.actor !== undefined ? `${id}@${data.actor}` : id;
}

/** A job's data without its parked mark. */
export function unparked(data: HandlerJobData): HandlerJobData {
  const out = { ...data };
  delete out.parked;
  return out;
}
