/**
 * The event: its fields, the limits put on it, and its key. Validation lives in
 * validate.ts; the router's stamping in router/stamper.ts.
 */
/**
 * An event as published by the router and archived by the subscriber.
 * Field names follow the Python EventReactor (`namespace`, `event_type`, `payload`,
 * `timestamp`, `parent_event`) plus `id`, `trace_id`, `seq` and `epoch`.
 * Unknown top-level fields sent by a client are kept as they are.
 */
export interface ReactorEvent {
  /** Unique id: client-supplied (1-128 chars) or a ULID assigned by the router. */
  id: string;
  namespace: string;
  event_type: string;
  /** Any JSON value; `{}` when the client sent none. */
  payload: unknown;
  /** Unix seconds as a float; set by the router when absent. */
  timestamp: number;
  /** Id of the first event in a chain of follow-ups; defaults to `id`. */
  trace_id: string;
  /** Id of the event whose handler fired this one. */
  parent_event?: string;
  /**
   * How many events led to this one: 0 from a feeder; `ctx.fire()`, correlations and
   * `fire-event --parent-event` add one. The router refuses more than `router.max_hops`.
   */
  hops?: number;
  /** Per-router sequence number, 1-based, without gaps within one `epoch`. */
  seq: number;
  /** Router start time in Unix milliseconds; a new epoch restarts `seq` at 1. */
  epoch: number;
  [extra: string]: unknown;
}

/** Limits applied to incoming events. */
export interface IngestLimits {
  /** Largest accepted message in bytes; default 1 MiB. */
  maxBytes: number;
  /** Most `hops` accepted; default {@link DEFAULT_MAX_HOPS}. */
  maxHops?: number;
}

export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
export const MAX_ID_LENGTH = 128;
/** Latest timestamp accepted, in Unix seconds: JavaScript's last valid Date. */
export const MAX_TIMESTAMP = 8.64e12;
/** Deepest nesting accepted (objects and arrays, the event itself is level 1); MongoDB stores at most 100. */
export const MAX_DEPTH = 64;
export const MAX_NAME_LENGTH = 256;
/** Default `router.max_hops`: longest chain of follow-up events the router accepts. */
export const DEFAULT_MAX_HOPS = 8;

/** `namespace:event_type`, the key handlers are registered under. */
export function eventKey(e: { namespace: string; event_type: string }): string {
  return `${e.namespace}:${e.event_type}`;
}

/** A field the object has itself (never one of Object.prototype's, such as `constructor`). */
export function ownField(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}
