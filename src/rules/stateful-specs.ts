/**
 * The stateful rules of event-handlers.json, compiled: registers (running values fed by
 * events over a window), `if` conditions over them, `throttle`, `debounce`, and
 * correlations. Compiling is pure and reports every problem with its key path; the state
 * itself lives in Redis (src/rule-state/).
 */
import { compileKeyPattern, type KeyPattern } from './glob.js';
import { isEventPath, parseSteps, type PathStep } from './event-path.js';
import { childPath, indexPath, ProblemList, type RuleSource } from './rule-source.js';

/** A compiled event path, with the text it was written as. */
export interface EventPath {
  text: string;
  steps: readonly PathStep[];
}

export interface RegisterSpec {
  name: string;
  /** Events whose key matches feed the register. */
  key: KeyPattern;
  /** Where the number is in the event. */
  value: EventPath;
  /** Keep samples this many seconds, or (with `samples`) the N most recent. */
  windowS?: number;
  samples?: number;
  /** One series per value at this path (`payload.host`); one series for all without it. */
  by?: EventPath;
}

export const AGGREGATES = ['avg', 'min', 'max', 'sum', 'count', 'last', 'rate'] as const;
export type Aggregate = (typeof AGGREGATES)[number];
export const OPERATORS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type Operator = (typeof OPERATORS)[number];

/** One condition on a register, evaluated for the event's own group. */
export interface RegisterCondition {
  register: RegisterSpec;
  agg: Aggregate;
  op: Operator;
  value: number;
  /** Fewer samples than this: the condition is not met (not enough data). */
  minSamples: number;
  /** Aggregate only the samples of the last N seconds (within the register's window). */
  periodS?: number;
}

/** `if`: one condition, a list (all of them), or `{"any": [...]}`. */
export interface IfSpec {
  mode: 'all' | 'any';
  conditions: RegisterCondition[];
}

export interface ThrottleSpec {
  /** At most one run per this many seconds... */
  oncePerS: number;
  /** ...per value at this path. */
  by?: EventPath;
}

export interface DebounceSpec {
  /** Run once, for the last event, after the stream has been quiet this long. */
  quietS: number;
  by?: EventPath;
}

export interface CorrelationSpec {
  name: string;
  /** `all`: every key must be seen; `any`: the first of them fires, once per window. */
  mode: 'all' | 'any';
  keys: KeyPattern[];
  withinS: number;
  by?: EventPath;
  /** `namespace:event_type` of the event fired when complete. */
  emit: { namespace: string; event_type: string };
}

function path(value: unknown, at: string, problems: ProblemList): EventPath | undefined {
  if (typeof value !== 'string' || !isEventPath(value)) {
    problems.add(at, 'must be a path into the event, e.g. payload.host or payload.disks[0].used');
    return undefined;
  }
  return { text: value, steps: parseSteps(value) };
}

function positive(value: unknown, at: string, problems: ProblemList, max = 86_400 * 366): number | undefined {
  if (typeof value !== 'number' || !(value > 0) || value > max) {
    problems.add(at, `must be a number of seconds above 0 (at most ${max})`);
    return undefined;
  }
  return value;
}

function key(value: unknown, at: string, source: RuleSource, problems: ProblemList): KeyPattern | undefined {
  if (typeof value !== 'string') {
    problems.add(at, 'must be a "namespace:event_type" key or glob');
    return undefined;
  }
  try {
    return compileKeyPattern(value, { ...source, path: at });
  } catch (err) {
    for (const p of (err as { problems?: { path: string; message: string }[] }).problems ?? []) problems.add(p.path, p.message);
    return undefined;
  }
}

function objectAt(value: unknown, at: string, problems: ProblemList): Record<string, unknown> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.add(at, 'must be an object');
    return undefined;
  }
  return value as Record<string, unknown>;
}

function unknownKeys(obj: Record<string, unknown>, known: readonly string[], at: string, problems: ProblemList): void {
  for (const k of Object.keys(obj)) if (!known.includes(k)) problems.add(childPath(at, k), `unknown key (one of ${known.join(', ')})`);
}

/** The `registers` section. @throws {ConfigError} with every problem */
export function compileRegisters(json: unknown, source: RuleSource): Map<string, RegisterSpec> {
  const problems = new ProblemList(source);
  const out = new Map<string, RegisterSpec>();
  const all = objectAt(json, source.path, problems);
  for (const [name, raw] of Object.entries(all ?? {})) {
    const at = childPath(source.path, name);
    const r = objectAt(raw, at, problems);
    if (!r) continue;
    unknownKeys(r, ['key', 'value', 'window', 'samples', 'by'], at, problems);
    const k = key(r['key'], childPath(at, 'key'), source, problems);
    const value = path(r['value'], childPath(at, 'value'), problems);
    const by = r['by'] === undefined ? undefined : path(r['by'], childPath(at, 'by'), problems);
    const windowS = r['window'] === undefined ? undefined : positive(r['window'], childPath(at, 'window'), problems);
    let samples: number | undefined;
    if (r['samples'] !== undefined) {
      if (!Number.isInteger(r['samples']) || (r['samples'] as number) < 1 || (r['samples'] as number) > 100_000)
        problems.add(childPath(at, 'samples'), 'must be a whole number from 1 to 100000');
      else samples = r['samples'] as number;
    }
    if (r['window'] === undefined && r['samples'] === undefined) problems.add(at, 'needs "window" (seconds) or "samples" (the N most recent)');
    if (k && value) out.set(name, { name, key: k, value, ...(windowS ? { windowS } : {}), ...(samples ? { samples } : {}), ...(by ? { by } : {}) });
  }
  problems.throwIfAny();
  return out;
}

function condition(raw: unknown, at: string, registers: ReadonlyMap<string, RegisterSpec>, problems: ProblemList): RegisterCondition | undefined {
  const c = objectAt(raw, at, problems);
  if (!c) return undefined;
  unknownKeys(c, ['register', 'agg', 'op', 'value', 'min_samples', 'period'], at, problems);
  const register = typeof c['register'] === 'string' ? registers.get(c['register']) : undefined;
  if (!register)
    problems.add(childPath(at, 'register'), `must name a register of the "registers" section (${[...registers.keys()].join(', ') || 'there is none'})`);
  const agg = c['agg'] ?? 'last';
  if (!(AGGREGATES as readonly unknown[]).includes(agg)) problems.add(childPath(at, 'agg'), `must be one of ${AGGREGATES.join(', ')}`);
  if (!(OPERATORS as readonly unknown[]).includes(c['op'])) problems.add(childPath(at, 'op'), `must be one of ${OPERATORS.join(' ')}`);
  if (typeof c['value'] !== 'number' || !Number.isFinite(c['value'])) problems.add(childPath(at, 'value'), 'must be a number');
  const minSamples = c['min_samples'] ?? 1;
  if (!Number.isInteger(minSamples) || (minSamples as number) < 1) problems.add(childPath(at, 'min_samples'), 'must be a whole number >= 1');
  const periodS = c['period'] === undefined ? undefined : positive(c['period'], childPath(at, 'period'), problems);
  if (!register || !(AGGREGATES as readonly unknown[]).includes(agg) || typeof c['value'] !== 'number') return undefined;
  return { register, agg: agg as Aggregate, op: c['op'] as Operator, value: c['value'], minSamples: minSamples as number, ...(periodS ? { periodS } : {}) };
}

/** A handler entry's `if`. @throws {ConfigError} with every problem */
export function compileIf(json: unknown, source: RuleSource, registers: ReadonlyMap<string, RegisterSpec>): IfSpec {
  const problems = new ProblemList(source);
  let spec: IfSpec = { mode: 'all', conditions: [] };
  const list = (items: unknown[], base: string): RegisterCondition[] =>
    items.flatMap((item, i) => {
      const c = condition(item, indexPath(base, i), registers, problems);
      return c ? [c] : [];
    });
  if (Array.isArray(json)) spec = { mode: 'all', conditions: list(json, source.path) };
  else if (json !== null && typeof json === 'object' && 'any' in json) {
    const any = json.any;
    if (!Array.isArray(any) || any.length === 0) problems.add(childPath(source.path, 'any'), 'must be a non-empty list of conditions');
    else spec = { mode: 'any', conditions: list(any, childPath(source.path, 'any')) };
  } else {
    const c = condition(json, source.path, registers, problems);
    if (c) spec = { mode: 'all', conditions: [c] };
  }
  problems.throwIfAny();
  return spec;
}

/** A handler entry's `throttle` or `debounce`. @throws {ConfigError} with every problem */
export function compileThrottle(json: unknown, source: RuleSource): ThrottleSpec {
  const problems = new ProblemList(source);
  const t = objectAt(json, source.path, problems);
  let spec: ThrottleSpec | undefined;
  if (t) {
    unknownKeys(t, ['once_per', 'by'], source.path, problems);
    const oncePerS = positive(t['once_per'], childPath(source.path, 'once_per'), problems);
    const by = t['by'] === undefined ? undefined : path(t['by'], childPath(source.path, 'by'), problems);
    if (oncePerS) spec = { oncePerS, ...(by ? { by } : {}) };
  }
  problems.throwIfAny();
  return spec!;
}

export function compileDebounce(json: unknown, source: RuleSource): DebounceSpec {
  const problems = new ProblemList(source);
  const d = objectAt(json, source.path, problems);
  let spec: DebounceSpec | undefined;
  if (d) {
    unknownKeys(d, ['quiet', 'by'], source.path, problems);
    const quietS = positive(d['quiet'], childPath(source.path, 'quiet'), problems, 86_400);
    const by = d['by'] === undefined ? undefined : path(d['by'], childPath(source.path, 'by'), problems);
    if (quietS) spec = { quietS, ...(by ? { by } : {}) };
  }
  problems.throwIfAny();
  return spec!;
}

/** The `correlations` section. @throws {ConfigError} with every problem */
export function compileCorrelations(json: unknown, source: RuleSource): CorrelationSpec[] {
  const problems = new ProblemList(source);
  const out: CorrelationSpec[] = [];
  for (const [name, raw] of Object.entries(objectAt(json, source.path, problems) ?? {})) {
    const at = childPath(source.path, name);
    const c = objectAt(raw, at, problems);
    if (!c) continue;
    unknownKeys(c, ['all', 'any', 'within', 'by', 'emit'], at, problems);
    const mode = c['all'] !== undefined ? 'all' : 'any';
    const listed = c[mode];
    if ((c['all'] === undefined) === (c['any'] === undefined)) problems.add(at, 'needs one of "all" or "any": the keys to correlate');
    const keys: KeyPattern[] = [];
    if (!Array.isArray(listed) || listed.length < (mode === 'all' ? 2 : 1))
      problems.add(childPath(at, mode), mode === 'all' ? 'must list at least two keys' : 'must list at least one key');
    else listed.forEach((k, i) => keys.push(...[key(k, indexPath(childPath(at, mode), i), source, problems)].filter((x): x is KeyPattern => x !== undefined)));
    const withinS = positive(c['within'], childPath(at, 'within'), problems);
    const by = c['by'] === undefined ? undefined : path(c['by'], childPath(at, 'by'), problems);
    const emit = typeof c['emit'] === 'string' ? /^([^\s:]+):(\S+)$/.exec(c['emit']) : null;
    if (!emit) problems.add(childPath(at, 'emit'), 'must be the "namespace:event_type" of the event to fire');
    if (withinS && emit && keys.length === (Array.isArray(listed) ? listed.length : -1)) {
      out.push({ name, mode, keys, withinS, ...(by ? { by } : {}), emit: { namespace: emit[1]!, event_type: emit[2]! } });
    }
  }
  problems.throwIfAny();
  return out;
}
