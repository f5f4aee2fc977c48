import { randomBytes } from 'node:crypto';
import { monotonicFactory, type PRNG } from 'ulid';
import { EventValidationError } from './errors.js';

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
}

export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
export const MAX_ID_LENGTH = 128;
/** Latest timestamp accepted, in Unix seconds: JavaScript's last valid Date. */
export const MAX_TIMESTAMP = 8.64e12;
/** Deepest nesting accepted (objects and arrays, the event itself is level 1); MongoDB stores at most 100. */
export const MAX_DEPTH = 64;
export const MAX_NAME_LENGTH = 256;

/** `namespace:event_type`, the key handlers are registered under. */
export function eventKey(e: { namespace: string; event_type: string }): string {
  return `${e.namespace}:${e.event_type}`;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
// Control characters and whitespace that would make a key unreadable in logs or topics.
const BAD_NAME_CHARS = /[\u0000-\u0020\u007f]/;
const BAD_NAMESPACE_CHARS = /[\u0000-\u0020\u007f:]/;

/** A validated incoming event before the router stamps it. */
export interface IncomingEvent {
  /** The parsed object, as sent. */
  fields: Record<string, unknown>;
  /** The decoded JSON text, used to publish without re-serialising the payload. */
  text: string;
  namespace: string;
  event_type: string;
}

/**
 * Decode and validate one message from a feeder. Throws {@link EventValidationError}
 * naming the first problem found.
 */
export function parseIncoming(raw: Uint8Array, defaultNamespace: string, limits: IngestLimits): IncomingEvent {
  if (raw.byteLength > limits.maxBytes) {
    throw new EventValidationError('too_large', `event is ${raw.byteLength} bytes; the limit is ${limits.maxBytes} bytes`);
  }
  let text: string;
  try {
    text = decoder.decode(raw);
  } catch (err) {
    throw new EventValidationError('bad_encoding', 'event is not valid UTF-8', { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new EventValidationError('invalid_json', `event is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return validateFields(value, text, defaultNamespace);
}

/** Validate an already-parsed event object (from the wire or from `fire()`). */
export function validateFields(value: unknown, text: string, defaultNamespace: string): IncomingEvent {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new EventValidationError('not_object', `event must be a JSON object, got ${kind}`);
  }
  const fields = value as Record<string, unknown>;
  const eventType = own(fields, 'event_type');
  if (eventType === undefined) {
    throw new EventValidationError('missing_event_type', 'event has no "event_type"');
  }
  checkName(eventType, 'event_type', 'bad_event_type', BAD_NAME_CHARS);
  const ns = own(fields, 'namespace');
  if (ns !== undefined) checkName(ns, 'namespace', 'bad_namespace', BAD_NAMESPACE_CHARS);
  checkOptionalId(own(fields, 'id'), 'id', 'bad_id');
  checkOptionalId(own(fields, 'trace_id'), 'trace_id', 'bad_trace_id');
  checkOptionalId(own(fields, 'parent_event'), 'parent_event', 'bad_parent_event');
  if (exceedsDepth(fields, MAX_DEPTH)) {
    throw new EventValidationError('too_deep', `event is nested more than ${MAX_DEPTH} levels deep`);
  }
  const ts = own(fields, 'timestamp');
  if (ts !== undefined && (typeof ts !== 'number' || !(ts >= 0 && ts <= MAX_TIMESTAMP))) {
    throw new EventValidationError('bad_timestamp', `"timestamp" must be a number of Unix seconds from 0 to ${MAX_TIMESTAMP} (the latest date JavaScript can hold)`);
  }
  return {
    fields,
    text,
    namespace: (ns as string | undefined) ?? defaultNamespace,
    event_type: eventType as string,
  };
}

/** True when objects/arrays nest deeper than `limit` levels. Iterative: no stack overflow. */
export function exceedsDepth(root: object, limit: number): boolean {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (depth > limit) return true;
    if (Array.isArray(value)) {
      for (const v of value) if (v !== null && typeof v === 'object') stack.push([v, depth + 1]);
    } else {
      for (const k in value as Record<string, unknown>) {
        const v = (value as Record<string, unknown>)[k];
        if (v !== null && typeof v === 'object') stack.push([v, depth + 1]);
      }
    }
  }
  return false;
}

function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function checkName(value: unknown, field: string, reason: 'bad_event_type' | 'bad_namespace', bad: RegExp): void {
  if (typeof value !== 'string') {
    throw new EventValidationError(reason, `"${field}" must be a string, got ${describe(value)}`);
  }
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new EventValidationError(reason, `"${field}" must be 1-${MAX_NAME_LENGTH} characters long`);
  }
  if (bad.test(value)) {
    const extra = field === 'namespace' ? ', whitespace or ":"' : ' or whitespace';
    throw new EventValidationError(reason, `"${field}" must not contain control characters${extra}`);
  }
}

function checkOptionalId(value: unknown, field: string, reason: 'bad_id' | 'bad_trace_id' | 'bad_parent_event'): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new EventValidationError(reason, `"${field}" must be a non-empty string of at most ${MAX_ID_LENGTH} characters, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  return `a ${typeof value}`;
}

/** Fields the router always sets itself; a client's values for them are replaced. */
/**
 * Stamps accepted events with id, timestamp, trace id, sequence number and epoch, and
 * serialises them for publishing. One per router: `seq` counts from 1 within `epoch`.
 */
export class EventStamper {
  readonly epoch: number;
  #seq = 0;
  readonly #ulid = monotonicFactory(pooledRandom());

  constructor(epoch: number = Date.now()) {
    this.epoch = epoch;
  }

  /** Last sequence number handed out (0 before the first event). */
  get lastSeq(): number {
    return this.#seq;
  }

  /** Stamp one event; returns the event and its JSON text as it will be published. */
  stamp(incoming: IncomingEvent, now: number = Date.now()): { event: ReactorEvent; json: string } {
    const f = incoming.fields;
    // Taken only once the event is serialised: a failure must not leave a hole in seq.
    const seq = this.#seq + 1;
    const { added } = this.#added(incoming, seq, now);
    const event = Object.assign(copyFields(f), added) as ReactorEvent;
    // Fast path: the client's JSON text is kept verbatim and the router's fields are
    // prepended, so a large payload is never re-serialised. Only when the client sent a
    // field the router overrides (seq, epoch) is the whole event serialised again.
    let json: string;
    if (overridesRouterFields(f)) {
      json = JSON.stringify(event);
    } else {
      const head = JSON.stringify(added);
      const open = incoming.text.indexOf('{');
      json = `${head.slice(0, -1)},${incoming.text.slice(open + 1)}`;
    }
    this.#seq = seq;
    return { event, json };
  }

  /**
   * {@link stamp} for the router's hot path: the event as UTF-8 bytes, ready to publish,
   * without building the event object. `raw` must be the bytes `incoming` was parsed
   * from. The router's fields are prepended to the client's bytes, so the payload is
   * neither re-serialised nor re-encoded. Same JSON as `stamp` gives.
   */
  stampBytes(incoming: IncomingEvent, raw: Uint8Array, now: number = Date.now()): StampedBytes {
    const f = incoming.fields;
    if (overridesRouterFields(f)) {
      const { event, json } = this.stamp(incoming, now);
      return { seq: event.seq, id: event.id, body: Buffer.from(json) };
    }
    const seq = this.#seq + 1;
    const { added, id } = this.#added(incoming, seq, now);
    const head = JSON.stringify(added);
    // Only whitespace (or a byte order mark) can come before the object's "{".
    const open = raw.indexOf(0x7b);
    const body = Buffer.allocUnsafe(Buffer.byteLength(head) + raw.length - open - 1);
    const n = body.write(head);
    body[n - 1] = 0x2c; // the head's closing "}" becomes ","
    body.set(raw.subarray(open + 1), n);
    this.#seq = seq;
    return { seq, id, body };
  }

  /** The fields the router adds to `incoming`: those it lacks, plus seq and epoch. */
  #added(incoming: IncomingEvent, seq: number, now: number): { added: Record<string, unknown>; id: string } {
    const f = incoming.fields;
    const clientId = own(f, 'id') as string | undefined;
    const id = clientId ?? this.#ulid(now);
    const added: Record<string, unknown> = {};
    if (clientId === undefined) added['id'] = id;
    if (own(f, 'namespace') === undefined) added['namespace'] = incoming.namespace;
    if (own(f, 'payload') === undefined) added['payload'] = {};
    if (own(f, 'timestamp') === undefined) added['timestamp'] = now / 1000;
    if (own(f, 'trace_id') === undefined) added['trace_id'] = id;
    added['seq'] = seq;
    added['epoch'] = this.epoch;
    return { added, id };
  }
}

/**
 * Uniform numbers in [0, 1) with 8 bits of entropy each, from crypto random bytes read
 * 4 KiB at a time: ulid's default asks the kernel for one byte per character, which
 * costs ~27 µs whenever the millisecond changes. 8 bits are plenty for ulid, which maps
 * each number to one of 32 characters.
 */
function pooledRandom(): PRNG {
  let pool = Buffer.alloc(0);
  let i = 0;
  return () => {
    if (i === pool.length) {
      pool = randomBytes(4096);
      i = 0;
    }
    return pool[i++]! / 256;
  };
}

/** An event stamped by {@link EventStamper.stampBytes}. */
export interface StampedBytes {
  seq: number;
  id: string;
  /** The published event JSON, UTF-8. */
  body: Buffer;
}

function overridesRouterFields(f: Record<string, unknown>): boolean {
  return Object.hasOwn(f, 'seq') || Object.hasOwn(f, 'epoch');
}

/** Copy own enumerable fields without invoking the `__proto__` setter. */
function copyFields(f: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(f)) {
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * Parse an event received from the router's PUB stream (or a replay). Our own router's
 * output is trusted to be valid, but a foreign or legacy publisher may send anything,
 * so the same checks apply plus the stamped fields.
 */
export function parsePublished(text: string): ReactorEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new EventValidationError('invalid_json', `published event is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return publishedFromValue(value);
}

/** {@link parsePublished} for an already-parsed value (e.g. from a replay reply). */
export function publishedFromValue(value: unknown): ReactorEvent {
  const incoming = validateFields(value, '', 'local');
  const f = incoming.fields;
  if (typeof f['id'] !== 'string') throw new EventValidationError('bad_id', 'published event has no "id"');
  const event = f as ReactorEvent;
  event.namespace = incoming.namespace;
  if (event.payload === undefined) event.payload = {};
  if (typeof event.timestamp !== 'number') event.timestamp = Date.now() / 1000;
  if (typeof event.trace_id !== 'string') event.trace_id = event.id;
  if (typeof event.seq !== 'number') event.seq = 0;
  if (typeof event.epoch !== 'number') event.epoch = 0;
  return event;
}
