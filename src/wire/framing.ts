/**
 * PUB stream framing.
 *
 * `multipart` (default): two frames, `namespace:event_type` then the event JSON, so a
 * SUB client can filter inside ZeroMQ by subscribing to a key prefix (`local:`,
 * `local:zmq.test`). `legacy`: one frame with the event JSON, as EventReactor published.
 */
export type Framing = 'multipart' | 'legacy';

export function encodeFrames(framing: Framing, key: string | Buffer, body: string | Buffer): (string | Buffer)[] {
  return framing === 'multipart' ? [key, body] : [body];
}

/** The JSON body of a published message in either framing: the last frame. */
export function bodyOf(frames: readonly Buffer[]): Buffer | undefined {
  return frames.length === 1 || frames.length === 2 ? frames[frames.length - 1] : undefined;
}
