import { createHash } from 'node:crypto';
import type { Registry } from 'prom-client';
import { eventKey, type ReactorEvent } from '../event/event.js';
import type { HandlerJobData } from '../queue/job.js';
import { counter } from '../metrics.js';
import type { Logger } from '../logger.js';
import { decideEntry } from '../rule-state/decide.js';
import type { RuleState } from '../rule-state/rule-state.js';
import { describeDecision, describeMismatch } from '../rules/explain.js';
import type { Decision } from '../rules/explain.js';
import type { PatternExplanation } from '../rules/pattern.js';
import type { HandlerDecision } from '../archive/archive.js';
import type { RuleEntry, RuleTable } from '../rules/rule-table.js';
import { ActorTargets } from './actor-targets.js';

/** Longest handler string kept in a decision record (the entry's id names it exactly). */
const HANDLER_SHOWN = 120;

/**
 * One line of the `decisions` field of an archived event: a handler entry whose key
 * matched, and whether it was enqueued (and if not, the stage that stopped it and why), or
 * a correlation the event completed and the event it fired.
 */
export type DecisionRecord = HandlerDecision | { correlation: string; emit: string; id: string; correlated: string[] };

/** A correlation the event completed: the event to fire through the router. */
export interface Emission {
  correlation: string;
  event: EmittedEvent;
}

/** The event a completed correlation fires (the router stamps the rest). */
export interface EmittedEvent {
  id: string;
  namespace: string;
  event_type: string;
  payload: { correlation: string; group: string; correlated: string[] };
  correlated: string[];
  parent_event: string;
  trace_id: string;
  hops: number;
}

/** What the rules decided for one event. */
export interface Decided {
  decisions: DecisionRecord[];
  jobs: HandlerJobData[];
  emissions: Emission[];
}

export interface RuleDeciderOptions {
  /** The current table (hot reload swaps it). */
  table: () => RuleTable;
  /** The rules' state in Redis; needed as soon as the table has registers, `if`, `throttle`, `debounce` or correlations. */
  state?: RuleState;
  log: Logger;
  registry: Registry;
  /** Names of the live actors, for entries with `"target": "all"`; none when unset. */
  liveActors?: () => Promise<string[]>;
}

/**
 * The subscriber's rules: for each event, feed the registers it matches, decide each handler
 * entry its key matches (`when`, `if`, `throttle`, `debounce`), record every decision, and
 * see which correlations it completes. Every step is idempotent per event id (see
 * RuleState), so a batch decided again after a crash decides the same.
 *
 * A template whose path the event lacks does not stop the entry here: the worker makes it
 * an error result naming the path, which the operator sees with the handler's other runs.
 */
export class RuleDecider {
  readonly #o: RuleDeciderOptions;
  readonly #m;
  /** Entries as decideEntry sees them: without the template stage. */
  readonly #gates = new WeakMap<RuleEntry, RuleEntry>();
  readonly #targets: ActorTargets;

  constructor(options: RuleDeciderOptions) {
    this.#o = options;
    const r = options.registry;
    this.#targets = new ActorTargets(r, options.liveActors ?? (() => Promise.resolve([])));
    this.#m = {
      skipped: counter(r, 'sub_handlers_skipped_total', 'Handler entries whose key matched but a rule stopped, by stage', ['stage']),
      debounced: counter(r, 'sub_handlers_debounced_total', 'Handler jobs delayed by a debounce'),
      samplesSkipped: counter(r, 'sub_register_samples_skipped_total', 'Events a register matched that had no number at its value path', [
        'register',
        'reason',
      ]),
      correlations: counter(r, 'sub_correlations_completed_total', 'Correlations completed (each fires its event once)', ['correlation']),
      stateless: counter(r, 'sub_rules_without_state_total', 'Stateful rules passed without evaluation: no rules state configured'),
    };
  }

  get table(): RuleTable {
    return this.#o.table();
  }

  /** Decide one event. @throws when the rules state (Redis) fails: the batch is retried */
  async decide(event: ReactorEvent): Promise<Decided> {
    const table = this.#o.table();
    const state = this.#o.state;
    const key = eventKey(event);
    if (state && table.registers.size > 0) {
      for (const s of await state.feed(event, key, table.registers.values())) {
        this.#m.samplesSkipped.inc({ register: s.register, reason: s.reason });
        this.#o.log.debug({ eventId: event.id, register: s.register, path: s.path, reason: s.reason }, 'register sample skipped');
      }
    }
    const decisions: DecisionRecord[] = [];
    const jobs: HandlerJobData[] = [];
    // The same handler (same id: driver, handler string, options and rules) under two
    // overlapping keys runs once per event: its job id is the event's and the handler's.
    const running = new Map<string, string>();
    for (const entry of table.match(event.namespace, event.event_type)) {
      const spec = entry.spec;
      const shown = { key: spec.key, handler: spec.command.length > HANDLER_SHOWN ? `${spec.command.slice(0, HANDLER_SHOWN)}…` : spec.command, id: spec.id };
      const first = running.get(spec.id);
      if (first !== undefined) {
        this.#m.skipped.inc({ stage: 'duplicate' });
        decisions.push({ ...shown, run: false, stage: 'duplicate', reason: `the same handler runs for this event under ${first}` });
        continue;
      }
      if (!entry.if && !entry.throttle && !entry.debounce) {
        // Stateless: the pattern alone decides; a miss is explained by its pattern only.
        if (!entry.when || entry.when.matches(event)) {
          decisions.push({ ...shown, run: true });
          running.set(spec.id, spec.key);
          jobs.push(...(await this.#targets.jobsFor(entry, { event, handler: spec })));
        } else {
          this.#m.skipped.inc({ stage: 'when' });
          decisions.push({ ...shown, run: false, stage: 'when', reason: whenReason(entry.when.explain(event)) });
        }
        continue;
      }
      if (!state) this.#m.stateless.inc();
      const d = await decideEntry(this.#gate(entry), event, state, 'live');
      if (!d.runs) {
        const failed = d.decisions.at(-1)!;
        this.#m.skipped.inc({ stage: failed.stage });
        decisions.push({ ...shown, run: false, stage: failed.stage, reason: failed.stage === 'when' ? whenReason(failed) : describeDecision(failed) });
        continue;
      }
      if (d.debounce) {
        this.#m.debounced.inc();
        decisions.push({ ...shown, run: true, stage: 'debounce', delay_ms: d.debounce.delayMs });
        running.set(spec.id, spec.key);
        jobs.push(...(await this.#targets.jobsFor(entry, { event, handler: spec, debounce: d.debounce })));
      } else {
        decisions.push({ ...shown, run: true });
        running.set(spec.id, spec.key);
        jobs.push(...(await this.#targets.jobsFor(entry, { event, handler: spec })));
      }
    }
    // The table the subscriber decided with: a worker whose reload lags lets the job wait for it.
    for (const job of jobs) job.table = table.hash;
    const emissions: Emission[] = [];
    if (state && table.correlations.length > 0) {
      for (const done of await state.correlate(event, key, table.correlations)) {
        const emitted = emittedEvent(done.spec.name, done.group, done.spec.emit, done.ids, event);
        this.#m.correlations.inc({ correlation: done.spec.name });
        decisions.push({ correlation: done.spec.name, emit: `${emitted.namespace}:${emitted.event_type}`, id: emitted.id, correlated: done.ids });
        emissions.push({ correlation: done.spec.name, event: emitted });
      }
    }
    return { decisions, jobs, emissions };
  }

  #gate(entry: RuleEntry): RuleEntry {
    if (!entry.template) return entry;
    let gate = this.#gates.get(entry);
    if (!gate) {
      const { template: _template, ...rest } = entry;
      gate = rest;
      this.#gates.set(entry, gate);
    }
    return gate;
  }
}

/**
 * Why a pattern did not match, compactly for the event document (the entry is named beside
 * it; `test-event` gives the pattern's key path).
 */
function whenReason(e: PatternExplanation | Decision): string {
  const m = 'mismatch' in e ? e.mismatch : undefined;
  return m ? describeMismatch(m) : 'the pattern did not match';
}

/**
 * The event a completed correlation fires. Its id is derived from the correlation, the
 * group and the events that completed it, so the same completion fired again (a batch
 * retried, a second subscriber) is the same event: archived and run once.
 */
export function emittedEvent(name: string, group: string, emit: { namespace: string; event_type: string }, ids: string[], last: ReactorEvent): EmittedEvent {
  const digest = createHash('sha256')
    .update(JSON.stringify([name, group, ids]))
    .digest('hex');
  return {
    id: `cor-${digest.slice(0, 32)}`,
    namespace: emit.namespace,
    event_type: emit.event_type,
    payload: { correlation: name, group, correlated: ids },
    correlated: ids,
    parent_event: last.id,
    trace_id: last.trace_id,
    hops: (last.hops ?? 0) + 1,
  };
}
