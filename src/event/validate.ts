import { EventValidationError } from '../errors.js';
import { DEFAULT_MAX_HOPS, MAX_DEPTH, MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_TIMESTAMP, ownField as own, type IngestLimits, type ReactorEvent } from './event.js';

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
  return validateFields(value, text, defaultNamespace, limits.maxHops);
}

/** Validate an already-parsed event object (from the wire or from `fire()`). */
export function validateFields(value: unknown, text: string, defaultNamespace: string, maxHops: number = DEFAULT_MAX_HOPS): IncomingEvent {
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
  // A NUL in a field name can reach the parsed object only through the JSON escape
  // \u0000: the walk is skipped unless the text has one (an empty text: not from the wire).
  if ((text === '' || text.includes('\\u0000')) && nulKeyPath(fields) !== undefined) {
    throw new EventValidationError('bad_key', `field name ${nulKeyPath(fields)} holds a NUL character, which no archive can store`);
  }
  const hops = own(fields, 'hops');
  if (hops !== undefined) {
    if (!Number.isInteger(hops) || (hops as number) < 0) throw new EventValidationError('bad_hops', '"hops" must be a whole number >= 0');
    if ((hops as number) > maxHops) {
      throw new EventValidationError(
        'too_many_hops',
        `event is ${hops as number} hops from a feeder; the limit is ${maxHops} (router.max_hops): a loop of handlers firing each other?`,
      );
    }
  }
  const ts = own(fields, 'timestamp');
  if (ts !== undefined && (typeof ts !== 'number' || !(ts >= 0 && ts <= MAX_TIMESTAMP))) {
    throw new EventValidationError(
      'bad_timestamp',
      `"timestamp" must be a number of Unix seconds from 0 to ${MAX_TIMESTAMP} (the latest date JavaScript can hold)`,
    );
  }
  return {
    fields,
    text,
    namespace: (ns as string | undefined) ?? defaultNamespace,
    event_type: eventType as string,
  };
}

/** The path (JSON) of the first field name holding a NUL character, or undefined. Iterative. */
export function nulKeyPath(root: object): string | undefined {
  const stack: [unknown, string][] = [[root, '']];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        if (v !== null && typeof v === 'object') stack.push([v, `${path}[${i}]`]);
      });
    } else {
      for (const k of Object.keys(value as object)) {
        const at = `${path}${path === '' ? '' : '.'}${JSON.stringify(k)}`;
        if (k.includes('\u0000')) return at;
        const v = (value as Record<string, unknown>)[k];
        if (v !== null && typeof v === 'object') stack.push([v, at]);
      }
    }
  }
  return undefined;
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
