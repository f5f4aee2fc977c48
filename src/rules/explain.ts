/**
 * "Why would this handler run for this event, or not": the stages a handler entry passes
 * for an event, each a {@link Decision}, for `event-reactor test-event` and the like.
 *
 * The stages of the pure rules are decided here (`key`, `when`, `template`); the stateful
 * ones (`if` over registers, `throttle`, `debounce`, correlations) are decided by the code
 * that owns their state, which appends its own Decision of the shapes below, so the CLI
 * prints one list whatever decided.
 */
import type { KeyPattern } from './glob.js';
import type { CompiledPattern, PatternMismatch } from './pattern.js';
import type { CompiledTemplate } from './template.js';

/** The event key against the handler's key (exact or glob). */
export interface KeyDecision {
  readonly stage: 'key';
  readonly pass: boolean;
  /** `namespace:event_type` of the event. */
  readonly eventKey: string;
  /** The key the handler is registered under, as written. */
  readonly keyPattern: string;
  readonly exact: boolean;
}

/** The content pattern (`when`); `pass` without `mismatch` when the entry has none. */
export interface WhenDecision {
  readonly stage: 'when';
  readonly pass: boolean;
  /** Set when the entry has a pattern. */
  readonly patternPath?: string;
  /** Set when `pass` is false: the first condition that failed. */
  readonly mismatch?: PatternMismatch;
}

/** The handler string's placeholders: whether the event fills them all. */
export interface TemplateDecision {
  readonly stage: 'template';
  readonly pass: boolean;
  /** Set when `pass` is false: the placeholder that could not be filled. */
  readonly path?: string;
  readonly message?: string;
  /** Set when `pass` is true: what would run. */
  readonly argv?: readonly string[];
}

/**
 * A stage decided with state the pure rules do not have (Redis-backed registers,
 * throttles, debounces, correlations). `reason` is one sentence for people; `details`
 * holds the figures (counts, windows in ms, times as ISO strings).
 */
export interface StatefulDecision {
  readonly stage: 'if' | 'throttle' | 'debounce' | 'correlate';
  readonly pass: boolean;
  readonly reason: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** One stage's verdict on one handler entry for one event. */
export type Decision = KeyDecision | WhenDecision | TemplateDecision | StatefulDecision;

/** The stages of one entry, in order, and whether it would run. */
export interface HandlerExplanation {
  /** True when every decision passes. */
  readonly runs: boolean;
  /** The stages decided, stopping after the first that fails. */
  readonly decisions: readonly Decision[];
}

/** What {@link explainHandler} needs of a handler entry. */
export interface ExplainableEntry {
  readonly key: KeyPattern;
  readonly when?: CompiledPattern;
  /** For shell handlers with placeholders. */
  readonly template?: CompiledTemplate;
}

/**
 * Decide the pure stages for `entry` and `event`: key, then `when`, then the template,
 * stopping at the first that fails. Stateful stages are appended by their owners with
 * {@link withDecision}.
 */
export function explainHandler(entry: ExplainableEntry, event: { namespace: string; event_type: string }): HandlerExplanation {
  const eventKey = `${event.namespace}:${event.event_type}`;
  const decisions: Decision[] = [];
  const keyPass = entry.key.test(eventKey);
  decisions.push({ stage: 'key', pass: keyPass, eventKey, keyPattern: entry.key.source, exact: entry.key.exact });
  if (!keyPass) return { runs: false, decisions };
  if (entry.when) {
    const e = entry.when.explain(event);
    decisions.push(
      e.matched
        ? { stage: 'when', pass: true, patternPath: entry.when.path }
        : { stage: 'when', pass: false, patternPath: entry.when.path, mismatch: e.mismatch },
    );
    if (!e.matched) return { runs: false, decisions };
  } else {
    decisions.push({ stage: 'when', pass: true });
  }
  if (entry.template) {
    const r = entry.template.render(event);
    decisions.push(r.ok ? { stage: 'template', pass: true, argv: r.argv } : { stage: 'template', pass: false, path: r.path, message: r.message });
    if (!r.ok) return { runs: false, decisions };
  }
  return { runs: true, decisions };
}

/** `explanation` with `decision` appended (no-op once a stage has failed: later stages are not reached). */
export function withDecision(explanation: HandlerExplanation, decision: Decision): HandlerExplanation {
  if (!explanation.runs) return explanation;
  return { runs: decision.pass, decisions: [...explanation.decisions, decision] };
}

/** Where a pattern failed: `payload.used is 42, expected [{"numeric":[">",90]}]`. */
export function describeMismatch(m: PatternMismatch): string {
  return `${m.path || '(event)'} ${m.absent ? 'is absent' : `is ${JSON.stringify(m.actual)}`}, expected ${JSON.stringify(m.expected)}`;
}

/** One line for people, e.g. `when: payload.used is 42, expected [{"numeric":[">",90]}] (local:disk.*[0].when.payload.used)`. */
export function describeDecision(d: Decision): string {
  const verdict = d.pass ? 'pass' : 'FAIL';
  switch (d.stage) {
    case 'key':
      return `key: ${verdict}: event key ${d.eventKey} ${d.pass ? 'matches' : 'does not match'} ${d.exact ? 'key' : 'glob'} ${d.keyPattern}`;
    case 'when': {
      if (!d.mismatch) return `when: ${verdict}${d.patternPath ? '' : ' (no pattern)'}`;
      return `when: ${verdict}: ${describeMismatch(d.mismatch)} (${d.mismatch.patternPath})`;
    }
    case 'template':
      return d.pass ? `template: ${verdict}: argv ${JSON.stringify(d.argv)}` : `template: ${verdict}: ${d.message}`;
    default:
      return `${d.stage}: ${verdict}: ${d.reason}`;
  }
}
