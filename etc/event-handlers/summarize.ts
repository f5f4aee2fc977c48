/**
 * tsfunc handler: `summarize.summarize` in event-handlers.json. Runs without a build step.
 * Returns a summary (stored as `data` in the results collection) and fires a follow-up
 * event `<namespace>:<event_type>.summarized` whose parent_event and trace_id point back.
 */
import type { TsHandlerContext } from 'event-reactor';

interface Event {
  id: string;
  namespace: string;
  event_type: string;
  payload: unknown;
  timestamp: number;
}

export async function summarize(event: Event, ctx: TsHandlerContext): Promise<Record<string, unknown>> {
  const payload = event.payload && typeof event.payload === 'object' ? (event.payload as Record<string, unknown>) : {};
  const summary = {
    key: `${event.namespace}:${event.event_type}`,
    fields: Object.keys(payload),
    bytes: Buffer.byteLength(JSON.stringify(event.payload)),
    age_ms: Math.round(Date.now() - event.timestamp * 1000),
  };
  ctx.log.info({ summary }, 'event summarized');
  const followUp = await ctx.fire({ namespace: event.namespace, event_type: `${event.event_type}.summarized`, payload: summary });
  return { ...summary, follow_up: followUp.id };
}
