import { RouterRefusedError, TransportError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';

/** Parse a router reply; `{"error": ...}` becomes a RouterRefusedError. */
export function parseReply<T = ReactorEvent>(text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TransportError(`router replied with something that is not JSON: ${text.slice(0, 200)}`, { cause: err });
  }
  const v = value as { error?: { code?: unknown; message?: unknown } };
  if (v && typeof v === 'object' && v.error && typeof v.error === 'object') {
    const { code, message } = v.error;
    throw new RouterRefusedError(typeof code === 'string' ? code : 'unknown', typeof message === 'string' ? message : 'refused');
  }
  return value as T;
}
