import type { ReactorEvent } from '../event/event.js';
import { explainHandler, withDecision, type HandlerExplanation } from '../rules/explain.js';
import type { RuleEntry } from '../rules/rule-table.js';
import type { RuleState } from './rule-state.js';

/** A decision on one entry for one event, with the debounce the run must respect. */
export interface EntryDecision extends HandlerExplanation {
  entry: RuleEntry;
  /** Set when the entry debounces: run after `delayMs`, only if still the latest (`key`). */
  debounce?: { delayMs: number; key: string };
}

/**
 * Decide whether `entry` runs for `event`, stage by stage, stopping at the first that
 * fails: its key, `when`, the template, `if` over registers, `throttle`, `debounce`.
 *
 * `live` (the subscriber): the throttle period is taken and the debounce marked, so the
 * decision holds across subscribers. `peek` (`test-event`): nothing in Redis changes.
 * Without `state` the stateful stages are reported as not evaluated.
 */
export async function decideEntry(entry: RuleEntry, event: ReactorEvent, state: RuleState | undefined, mode: 'live' | 'peek'): Promise<EntryDecision> {
  let e: HandlerExplanation = explainHandler(
    { key: entry.keyPattern, ...(entry.when ? { when: entry.when } : {}), ...(entry.template ? { template: entry.template } : {}) },
    event,
  );
  const stateless = (stage: 'if' | 'throttle' | 'debounce'): HandlerExplanation =>
    withDecision(e, { stage, pass: true, reason: 'not evaluated: no access to the rules state (--no-state)' });
  if (entry.if) e = state ? withDecision(e, await state.decideIf(entry.if, event)) : stateless('if');
  if (!e.runs) return { ...e, entry };
  if (entry.throttle) e = state ? withDecision(e, await state.throttle(entry.spec.id, entry.throttle, event, mode === 'peek')) : stateless('throttle');
  if (!e.runs) return { ...e, entry };
  if (entry.debounce) {
    if (!state || mode === 'peek') {
      e = withDecision(e, {
        stage: 'debounce',
        pass: true,
        reason: `would run after ${entry.debounce.quietS} s of quiet, if no later event of its group comes`,
      });
      return { ...e, entry };
    }
    const d = await state.debounce(entry.spec.id, entry.debounce, event);
    e = withDecision(e, {
      stage: 'debounce',
      pass: true,
      reason: `runs after ${entry.debounce.quietS} s of quiet in group ${d.group}, if still the latest`,
      details: { group: d.group, delayMs: d.delayMs },
    });
    return { ...e, entry, debounce: { delayMs: d.delayMs, key: d.key } };
  }
  return { ...e, entry };
}
