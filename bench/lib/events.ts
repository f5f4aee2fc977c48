/** Bench events as a feeder sends them: a JSON object with `event_type` and a payload. */

/** Size of a load event on the wire, before the router stamps it. */
export const EVENT_BYTES = 1024;

/** Messages shorter than this are probes (warm-up), not load; receivers skip them. */
export const PROBE_MAX_BYTES = 256;

/**
 * JSON text of an event of about `bytes` bytes (exactly, for ASCII `fields`): the
 * payload is `fields` plus a `pad` string filling up the rest.
 */
export function eventJson(eventType: string, fields: Record<string, unknown> = {}, bytes: number = EVENT_BYTES): string {
  const bare = JSON.stringify({ event_type: eventType, payload: { ...fields, pad: '' } });
  const pad = 'x'.repeat(Math.max(0, bytes - bare.length));
  return JSON.stringify({ event_type: eventType, payload: { ...fields, pad } });
}

/** A small event used to find out when a subscription has reached the publisher. */
export function probeJson(eventType: string): string {
  return JSON.stringify({ event_type: eventType, payload: { probe: true } });
}

/**
 * {@link eventJson} (of exactly `bytes` bytes) and {@link probeJson} with a top-level
 * `namespace`, as EventReactor's feeders hand events to its router: that router logs
 * `namespace:event_type` for each event and publishes none without a namespace.
 */
export function namespacedEventJson(namespace: string, eventType: string, bytes: number = EVENT_BYTES): string {
  const bare = JSON.stringify({ namespace, event_type: eventType, payload: { pad: '' } });
  return JSON.stringify({ namespace, event_type: eventType, payload: { pad: 'x'.repeat(Math.max(0, bytes - bare.length)) } });
}

/** {@link probeJson} with a top-level `namespace` (see {@link namespacedEventJson}). */
export function namespacedProbeJson(namespace: string, eventType: string): string {
  return JSON.stringify({ namespace, event_type: eventType, payload: { probe: true } });
}
