/**
 * tsfunc handler: escalate after N consecutive events for the same key.
 *
 * Copy to the handler directory and register it in event-handlers.json for the events
 * to watch, e.g. a check that fails repeatedly:
 *   "local:check.failed": [
 *     { "driver": "tsfunc", "handler": "escalate.escalate", "timeout": 10 }
 *   ]
 * and register what should happen on escalation (a webhook, say) under
 * "local:check.failed.escalated".
 *
 * Payload (all optional):
 *   threshold   events in a row that escalate; default 3
 *   subject     counted separately per subject (a host, a URL...); default none
 *   window_s    a gap longer than this many seconds starts the count again
 *   resolved    true resets the count without escalating (send it when things recover)
 * On the threshold it fires `<namespace>:<event_type>.escalated` with the count and the
 * ids of the first and last event, then starts counting again from zero.
 *
 * Counts live in this module, in one worker process: they are lost on restart, and with
 * several worker processes each counts its own share of the events. A retried job
 * (same event id) is not counted twice.
 */
import type { ReactorEvent, TsHandlerContext } from 'event-reactor';

interface Streak {
  count: number;
  firstId: string;
  lastId: string;
  /** Event timestamp of the last event counted, in Unix seconds. */
  lastAt: number;
}

const DEFAULT_THRESHOLD = 3;
const streaks = new Map<string, Streak>();

export interface EscalateResult {
  key: string;
  count: number;
  threshold: number;
  escalated: boolean;
  /** Id of the `.escalated` event, when one was fired. */
  follow_up?: string;
}

export async function escalate(event: ReactorEvent, ctx: TsHandlerContext): Promise<EscalateResult> {
  const p = isRecord(event.payload) ? event.payload : {};
  const threshold = positiveInt(p['threshold'], 'threshold') ?? DEFAULT_THRESHOLD;
  const windowS = positiveNumber(p['window_s'], 'window_s');
  const subject = typeof p['subject'] === 'string' || typeof p['subject'] === 'number' ? String(p['subject']) : undefined;
  const key = `${event.namespace}:${event.event_type}${subject === undefined ? '' : `#${subject}`}`;
  ctx.signal.throwIfAborted();

  if (p['resolved'] === true) {
    streaks.delete(key);
    return { key, count: 0, threshold, escalated: false };
  }

  let streak = streaks.get(key);
  if (streak && windowS !== undefined && event.timestamp - streak.lastAt > windowS) streak = undefined;
  if (!streak) streak = { count: 0, firstId: event.id, lastId: '', lastAt: event.timestamp };
  if (streak.lastId !== event.id) {
    streak.count++;
    streak.lastId = event.id;
    streak.lastAt = event.timestamp;
  }
  streaks.set(key, streak);
  if (streak.count < threshold) return { key, count: streak.count, threshold, escalated: false };

  ctx.signal.throwIfAborted();
  // Reset before the await, so a concurrent job for the same key cannot escalate twice.
  streaks.delete(key);
  let fired: ReactorEvent;
  try {
    fired = await ctx.fire({
      namespace: event.namespace,
      event_type: `${event.event_type}.escalated`,
      payload: { key, subject: subject ?? null, count: streak.count, threshold, first_event: streak.firstId, last_event: event.id },
    });
  } catch (err) {
    // Keep the count, so the retry of this job escalates.
    if (!streaks.has(key)) streaks.set(key, streak);
    throw err;
  }
  ctx.log.warn({ key, count: streak.count, threshold, followUp: fired.id }, 'escalated');
  return { key, count: streak.count, threshold, escalated: true, follow_up: fired.id };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new TypeError(`payload.${name} must be a whole number >= 1, got ${JSON.stringify(v)}`);
  return v;
}

function positiveNumber(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !(v > 0)) throw new TypeError(`payload.${name} must be a number > 0, got ${JSON.stringify(v)}`);
  return v;
}
