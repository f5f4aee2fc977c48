import { setTimeout as sleep } from 'node:timers/promises';
import type { HandlerResult } from '../handlers/result.js';
import type { ArchiveReader, HandlerDecision } from './archive.js';
import { handlerDecisions } from './final-results.js';

export interface WaitFinalResultsOptions {
  /** When to give up, in ms since the epoch. */
  deadline: number;
  /** First pause between two reads, in ms; default 100. Each pause is 1.5 times the one before. */
  pollMs?: number;
  /** Longest pause between two reads, in ms; default 1000. */
  maxPollMs?: number;
  /** Called once the event is found archived, with the handler entries its key selected. */
  onArchived?: (decisions: HandlerDecision[]) => void;
  /** Called with each final result as it is found. */
  onFinal?: (result: HandlerResult) => void;
}

/** What {@link waitFinalResults} found by the time it returned. */
export interface FinalResultsWait {
  /** False when the deadline passed before the event was archived. */
  archived: boolean;
  /** The handler entries its key selected; undefined until archived, or when the event has no `decisions`. */
  decisions: HandlerDecision[] | undefined;
  /** The final result of each handler that runs, in the order found. */
  final: HandlerResult[];
  /** The handlers that run and had no final result by the deadline; empty when all have one. */
  waiting: HandlerDecision[];
}

/**
 * Wait until every handler an event runs has its final result (see `final-results.ts`),
 * or the deadline: first for the event to be archived, since its `decisions` name the
 * handlers that run (those with `run: true`), then for their results.
 *
 * It polls: FerretDB 1.x has no change streams, and answers a query on `results` other
 * than by `_id` with a scan, so the pauses grow from `pollMs` to `maxPollMs`: a quick
 * handler is seen at once, and a long wait stays light on the archive.
 *
 * A debounced handler (`stage: 'debounce'`) runs after its delay, which the wait covers;
 * if a later event of its group supersedes it, it never runs and never has a result, so
 * it is still waited for at the deadline.
 */
export async function waitFinalResults(
  archive: Pick<ArchiveReader, 'getEvent' | 'finalResults'>,
  eventId: string,
  options: WaitFinalResultsOptions,
): Promise<FinalResultsWait> {
  const firstPause = options.pollMs ?? 100;
  const maxPause = options.maxPollMs ?? 1000;
  let pause = firstPause;
  /** Pause before the next read; false once the deadline has passed. */
  const later = async (): Promise<boolean> => {
    const left = options.deadline - Date.now();
    if (left <= 0) return false;
    await sleep(Math.min(pause, left));
    pause = Math.min(pause * 1.5, maxPause);
    return true;
  };

  let event = await archive.getEvent(eventId);
  while (!event) {
    if (!(await later())) return { archived: false, decisions: undefined, final: [], waiting: [] };
    event = await archive.getEvent(eventId);
  }
  const decisions = handlerDecisions(event);
  if (!decisions) return { archived: true, decisions, final: [], waiting: [] };
  options.onArchived?.(decisions);

  // The handlers were enqueued just now: start again with short pauses.
  pause = firstPause;
  const waiting = new Map(decisions.filter((d) => d.run).map((d) => [d.id, d]));
  const final: HandlerResult[] = [];
  while (waiting.size > 0) {
    for (const r of await archive.finalResults(eventId)) {
      if (!waiting.delete(r.handler_id)) continue;
      final.push(r);
      options.onFinal?.(r);
    }
    if (waiting.size === 0 || !(await later())) break;
  }
  return { archived: true, decisions, final, waiting: [...waiting.values()] };
}
