import type { StoredEvent } from './archive.js';

/** Fields the archive adds to a stored event, and fields the router stamps anew on a copy. */
const ARCHIVE_FIELDS = new Set(['_id', 'key', 'time', 'received_at', 'archive_note', 'payload_json', 'extra_json', 'decisions']);

/**
 * The event as it was fired, from its archived document: the archive's own fields
 * removed, and a payload (or extra fields) the server could only store as JSON text
 * restored from it.
 */
export function restoreEvent(doc: StoredEvent): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!ARCHIVE_FIELDS.has(k)) Object.defineProperty(event, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  event['id'] = doc._id;
  if (typeof doc['payload_json'] === 'string') event['payload'] = JSON.parse(doc['payload_json']) as unknown;
  if (typeof doc['extra_json'] === 'string') {
    for (const [k, v] of Object.entries(JSON.parse(doc['extra_json']) as Record<string, unknown>)) {
      Object.defineProperty(event, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  return event;
}

/**
 * A copy of `original` to fire again: a new event (new id, stamped anew by the router)
 * in the same trace, saying what it replays and under which replay name.
 */
export function replayCopy(original: Record<string, unknown>, newId: string, name: string): Record<string, unknown> {
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(original)) {
    if (!['id', 'seq', 'epoch', 'timestamp', 'parent_event', 'hops', 'replay_of', 'replay'].includes(k)) {
      Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  copy['id'] = newId;
  copy['trace_id'] = original['trace_id'] ?? original['id'];
  copy['replay_of'] = original['id'];
  copy['replay'] = name;
  return copy;
}
