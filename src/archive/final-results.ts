import type { HandlerResult } from '../handlers/result.js';
import type { HandlerDecision, StoredEvent } from './archive.js';

/**
 * The handler entries an archived event's key selected, from its `decisions` (the
 * correlation records beside them are left out); undefined when the event has no
 * `decisions` field (archived by an event-sub that did not record them), so which
 * handlers it runs cannot be told.
 */
export function handlerDecisions(event: StoredEvent): HandlerDecision[] | undefined {
  const decisions = event['decisions'];
  if (!Array.isArray(decisions)) return undefined;
  return decisions.filter(
    (d): d is HandlerDecision => typeof d === 'object' && d !== null && typeof d.id === 'string' && typeof d.handler === 'string' && typeof d.run === 'boolean',
  );
}

/** True for a handler's last word on an event: an ok run, or its dead run (the failed last attempt, or a refusal). */
function isFinal(r: HandlerResult): boolean {
  return r.status === 'ok' || r.dead === true;
}

/**
 * The final result of each handler among `results` (the runs of one event) that has one,
 * in the order they ended. A handler with several (a dead letter retried from the DLQ
 * and run again) is represented by its latest run.
 */
export function finalResults(results: readonly HandlerResult[]): HandlerResult[] {
  const latest = new Map<string, HandlerResult>();
  for (const r of results) {
    if (!isFinal(r)) continue;
    const seen = latest.get(r.handler_id);
    if (!seen || r.run > seen.run || (r.run === seen.run && r.start > seen.start)) latest.set(r.handler_id, r);
  }
  return [...latest.values()].sort((a, b) => new Date(a.end).getTime() - new Date(b.end).getTime());
}
