/**
 * A handler entry's queue policy in event-handlers.json: `concurrency`, `rate`,
 * `order_by` and `breaker` (and `exclusive`, EventReactor's key, which is concurrency 1).
 * Compiled here, with every problem reported with its key path; enforced by the worker
 * on the entry's own BullMQ queue (src/queue/handler-worker.ts), in Redis, across all
 * workers.
 */
import type { ReactorEvent } from '../event/event.js';
import type { EntryPolicy } from '../handlers/spec.js';
import { isEventPath, lookup, parseSteps } from './event-path.js';
import { childPath, ProblemList, type RuleSource } from './rule-source.js';

/** The entry keys compiled here. */
export const POLICY_KEYS = ['concurrency', 'rate', 'order_by', 'breaker'] as const;

const MAX_CONCURRENCY = 10_000;
const MAX_SECONDS = 86_400;

function objectAt(value: unknown, at: string, problems: ProblemList): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.add(at, 'must be an object');
    return undefined;
  }
  return value as Record<string, unknown>;
}

function whole(value: unknown, at: string, problems: ProblemList, max: number): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    problems.add(at, `must be a whole number from 1 to ${max}`);
    return undefined;
  }
  return value;
}

function seconds(value: unknown, at: string, problems: ProblemList): number | undefined {
  if (typeof value !== 'number' || !(value > 0) || value > MAX_SECONDS) {
    problems.add(at, `must be a number of seconds above 0 (at most ${MAX_SECONDS})`);
    return undefined;
  }
  return value;
}

function onlyKeys(o: Record<string, unknown>, known: readonly string[], at: string, problems: ProblemList): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) problems.add(childPath(at, k), `unknown key (one of ${known.join(', ')})`);
}

/**
 * The policy of one entry from its raw keys; `source.path` is the entry's key path
 * (`local:disk.*[0]`). Returns undefined when the entry has none.
 * @throws {ConfigError} with every problem
 */
export function compilePolicy(entry: Readonly<Record<string, unknown>>, exclusive: boolean, source: RuleSource): EntryPolicy | undefined {
  const problems = new ProblemList(source);
  const at = (k: string): string => childPath(source.path, k);
  const policy: EntryPolicy = {};
  if (entry['concurrency'] !== undefined) {
    const n = whole(entry['concurrency'], at('concurrency'), problems, MAX_CONCURRENCY);
    if (n !== undefined && exclusive && n !== 1)
      problems.add(at('concurrency'), `is ${n}, but "exclusive": true means one run at a time: keep one of the two keys`);
    else if (n !== undefined) policy.concurrency = n;
  }
  if (exclusive) policy.concurrency = 1;
  if (entry['rate'] !== undefined) {
    const r = objectAt(entry['rate'], at('rate'), problems);
    if (r) {
      onlyKeys(r, ['max', 'per'], at('rate'), problems);
      const max = whole(r['max'], childPath(at('rate'), 'max'), problems, 1_000_000);
      const perS = seconds(r['per'], childPath(at('rate'), 'per'), problems);
      if (max !== undefined && perS !== undefined) {
        if (perS * 1000 < 1) problems.add(childPath(at('rate'), 'per'), 'must be at least 0.001 seconds');
        else policy.rate = { max, perS };
      }
    }
  }
  if (entry['order_by'] !== undefined) {
    const p = entry['order_by'];
    if (typeof p !== 'string' || !isEventPath(p)) problems.add(at('order_by'), 'must be a path into the event, e.g. payload.host');
    else policy.orderBy = p;
  }
  if (entry['breaker'] !== undefined) {
    const b = objectAt(entry['breaker'], at('breaker'), problems);
    if (b) {
      onlyKeys(b, ['failures', 'within', 'open_for'], at('breaker'), problems);
      const failures = whole(b['failures'], childPath(at('breaker'), 'failures'), problems, 10_000);
      const withinS = seconds(b['within'], childPath(at('breaker'), 'within'), problems);
      const openForS = seconds(b['open_for'], childPath(at('breaker'), 'open_for'), problems);
      if (failures !== undefined && withinS !== undefined && openForS !== undefined) policy.breaker = { failures, withinS, openForS };
    }
  }
  problems.throwIfAny();
  return Object.keys(policy).length > 0 ? policy : undefined;
}

/** One line for people: `concurrency 2, rate 10 per 60 s, order_by payload.host, breaker 5 failures in 60 s opens it for 300 s`. */
export function describePolicy(p: EntryPolicy | undefined): string {
  if (!p) return 'no policy';
  const parts: string[] = [];
  if (p.concurrency !== undefined) parts.push(`concurrency ${p.concurrency}`);
  if (p.rate) parts.push(`rate ${p.rate.max} per ${p.rate.perS} s`);
  if (p.orderBy) parts.push(`order_by ${p.orderBy}`);
  if (p.breaker) parts.push(`breaker ${p.breaker.failures} failures in ${p.breaker.withinS} s opens it for ${p.breaker.openForS} s`);
  return parts.length > 0 ? parts.join(', ') : 'no policy';
}

/**
 * What an entry's queue policy would do with a run of this event, for `event-reactor
 * test-event`: one line, or none when the entry has no policy.
 */
export function explainPolicy(policy: EntryPolicy | undefined, event: ReactorEvent): string[] {
  if (!policy) return [];
  const lines = [`queue: ${describePolicy(policy)}${policy.breaker ? ' (while open, its jobs wait)' : ''}`];
  if (policy.orderBy !== undefined) {
    const value = lookup(event, parseSteps(policy.orderBy));
    lines.push(
      value === undefined
        ? `order_by: ${policy.orderBy} is missing: runs after the earlier events that lack it too`
        : `order_by: ${policy.orderBy} = ${JSON.stringify(value)}: runs after the earlier events of that value`,
    );
  }
  return lines;
}
