/**
 * Replay socket protocol (request/reply: a REQ client, the router answering as REP would, on
 * `router.replay_bind`; one JSON frame each way).
 *
 * Request:  `{"since": {"epoch": E, "seq": N}, "limit": 1000}` — events after N of epoch E.
 *           `{"status": true}` — buffer state only.
 * Reply:    `{"epoch": E', "first_seq": F, "last_seq": L, "buffered": n, "bytes": b,
 *             "events": [...], "more": bool, "missed": {"epoch", "from", "to"} | null,
 *             "epoch_changed": bool}`
 * When E is not the router's epoch, events are served from the start of the current
 * epoch and `epoch_changed` is true (what came after N in epoch E is unknown). When the
 * buffer no longer holds N+1, `missed` names the exact range that cannot be replayed.
 * With a Redis journal (`journal: "redis"`), events are served across epochs in the
 * router's order, and what was trimmed is named in `missed_ranges`.
 * Errors: `{"error": {"code", "message"}}`.
 */
export interface ReplayRequest {
  since?: { epoch: number; seq: number };
  limit?: number;
  status?: boolean;
}

export interface ReplayReply<E = unknown> {
  epoch: number;
  first_seq: number | null;
  last_seq: number;
  buffered: number;
  /** Bytes held (memory journal); null from a Redis journal. */
  bytes: number | null;
  events: E[];
  more: boolean;
  missed: MissedRange | null;
  epoch_changed: boolean;
  /**
   * `redis`: the events come from the router's durable journal, in its order across
   * restarts: one of a later epoch after an earlier one means the earlier epoch ended.
   * Absent (older routers) or `memory`: only the current epoch is held.
   */
  journal?: 'memory' | 'redis';
  /** The router's name (`router.name`). */
  router?: string;
  /** Every range the journal no longer holds, in order (`missed` is the first). */
  missed_ranges?: MissedRange[];
}

/** Events that cannot be replayed; `to: null` when the end is unknown (the rest of an older epoch). */
export interface MissedRange {
  epoch: number;
  from: number;
  to: number | null;
}

export const REPLAY_DEFAULT_LIMIT = 1000;
export const REPLAY_MAX_LIMIT = 10_000;
/** Keep one reply well under typical message size limits. */
export const REPLAY_MAX_REPLY_BYTES = 8 * 1024 * 1024;

/** Validate a request; returns an error message for anything else. */
export function parseReplayRequest(text: string): ReplayRequest | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'request is not valid JSON';
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'request must be a JSON object';
  const r = v as Record<string, unknown>;
  if (r['status'] === true) return { status: true };
  const since = r['since'] as Record<string, unknown> | undefined;
  if (!since || typeof since !== 'object' || !Number.isInteger(since['epoch']) || !Number.isInteger(since['seq']) || (since['seq'] as number) < 0) {
    return 'request needs "since": {"epoch": <integer>, "seq": <integer >= 0>} or "status": true';
  }
  const limit = r['limit'];
  if (limit !== undefined && (!Number.isInteger(limit) || (limit as number) < 1)) return '"limit" must be a positive integer';
  return {
    since: { epoch: since['epoch'] as number, seq: since['seq'] as number },
    limit: Math.min((limit as number | undefined) ?? REPLAY_DEFAULT_LIMIT, REPLAY_MAX_LIMIT),
  };
}
