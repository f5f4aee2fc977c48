import { EventValidationError } from '../errors.js';
import { MAX_ID_LENGTH } from '../event/event.js';
import { validateFields } from '../event/validate.js';

/**
 * What the AMQPInput makes of one message body (pure: unit-tested without a broker).
 *
 * 1. Not UTF-8 JSON: refused (`bad_encoding`, `invalid_json`).
 * 2. An oslo.messaging envelope (`{"oslo.version": "2.0", "oslo.message": "<JSON text>"}`)
 *    is unwrapped; an envelope whose message is not JSON is refused.
 * 3. An OpenStack notification (`event_type` and `publisher_id`, with `message_id`,
 *    `priority`, `payload`, `timestamp` as `2013-05-07 19:54:04.213452`, UTC) is an event
 *    as it is, its time string parsed into `timestamp` (seconds) and kept in
 *    `timestamp_text`; `message_id` becomes the event id, so a redelivered notification
 *    is archived once.
 * 4. Any other body that is an event (passes the router's checks) is taken as it is.
 * 5. Any other JSON body becomes the `payload` of an event whose `event_type` is the
 *    routing key (or the exchange, when the key is empty).
 *
 * An event without an id takes the message's AMQP `message_id` property when it has one.
 */
export type AmqpDecision = { event: Record<string, unknown> } | { refused: 'bad_encoding' | 'invalid_json'; message: string };

export interface AmqpMessageInfo {
  routingKey: string;
  exchange: string;
  /** The AMQP `message_id` property, if the publisher set one. */
  messageId?: string | undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function eventFromAmqp(body: Uint8Array, info: AmqpMessageInfo): AmqpDecision {
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return { refused: 'bad_encoding', message: 'message body is not UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { refused: 'invalid_json', message: `message body is not JSON: ${(err as Error).message}` };
  }
  if (isObject(value) && typeof value['oslo.message'] === 'string') {
    try {
      value = JSON.parse(value['oslo.message']);
    } catch (err) {
      return { refused: 'invalid_json', message: `oslo.message of the envelope is not JSON: ${(err as Error).message}` };
    }
  }
  let event: Record<string, unknown>;
  if (isNotification(value)) event = fromNotification(value);
  else if (isEvent(value)) event = value;
  else event = { event_type: info.routingKey || info.exchange || 'amqp.message', payload: value };
  if (!Object.hasOwn(event, 'id') && info.messageId && info.messageId.length <= MAX_ID_LENGTH) event['id'] = info.messageId;
  return { event };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isNotification(v: unknown): v is Record<string, unknown> {
  return isObject(v) && typeof v['event_type'] === 'string' && typeof v['publisher_id'] === 'string';
}

function isEvent(v: unknown): v is Record<string, unknown> {
  try {
    validateFields(v, '', 'local');
    return true;
  } catch (err) {
    if (err instanceof EventValidationError) return false;
    throw err;
  }
}

function fromNotification(n: Record<string, unknown>): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(n)) Object.defineProperty(event, k, { value: v, enumerable: true, writable: true, configurable: true });
  const ts = n['timestamp'];
  if (typeof ts === 'string') {
    event['timestamp_text'] = ts;
    const seconds = parseOpenStackTime(ts);
    if (seconds === undefined) delete event['timestamp'];
    else event['timestamp'] = seconds;
  }
  const mid = n['message_id'];
  if (!Object.hasOwn(n, 'id') && typeof mid === 'string' && mid.length > 0 && mid.length <= MAX_ID_LENGTH) event['id'] = mid;
  return event;
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/** Unix seconds of an oslo time string (`2013-05-07 19:54:04.213452`, UTC unless it says otherwise), or undefined. */
export function parseOpenStackTime(text: string): number | undefined {
  const m = TIME.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms)) return undefined;
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  const fraction = frac ? Number(`0.${frac}`) : 0;
  return ms / 1000 + fraction;
}
