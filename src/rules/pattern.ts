/**
 * Content patterns (`when` in a handler entry): the AWS EventBridge pattern language,
 * evaluated over the whole event object (`namespace`, `event_type`, `payload`, `id`, any
 * field), compiled once into closures.
 *
 * A pattern is an object whose leaves are value lists (see conditions.ts for each kind of
 * element). The event matches when every field of the pattern matches (AND), a field
 * matching when one of its leaf values satisfies one element of its list (OR); nested
 * objects recurse; `"$or": [pattern, pattern, ...]` at any level matches when one of the
 * alternatives does.
 *
 * Arrays, as aws/event-ruler's `rulesForJSONEvent` treats them:
 * - a field whose value is an array matches when one of its elements does (arrays of
 *   arrays are flattened); an empty array has no leaf value;
 * - array consistency: all the fields of one pattern object must be found in the same
 *   element of an array they lie in. `{"disks": {"mount": ["/"], "used": [{"numeric":
 *   [">", 90]}]}}` needs one disk that is `/` and over 90, not one that is `/` and another
 *   over 90;
 * - `{"exists": false}` holds when no leaf value lies at the field's path in the element
 *   the other fields of the alternative chose (in every element when no field of the
 *   alternative passes through that array).
 *
 * Leaves only: a field whose value is an object or an empty array has no leaf value, so
 * `{"exists": true}` does not match it and `{"exists": false}` does; `null` is a leaf value.
 *
 * Fields are own properties only: `__proto__`, `constructor` and the like are read from
 * the event itself, never from Object.prototype.
 */
import { isPlainObject, type LeafValue } from './conditions.js';
import { buildAlternatives, type LeafNode, type Node, type ObjectNode } from './pattern-tree.js';
import { childPath, indexPath, ProblemList, type RuleSource } from './rule-source.js';

/** Why an event does not match a pattern: the first condition that failed. */
export interface PatternMismatch {
  /** Where in the event, e.g. `payload.used` or `payload.disks[1].used`. */
  readonly path: string;
  /** Where the condition is written, e.g. `local:disk.*[0].when.payload.used`. */
  readonly patternPath: string;
  /** The value list as written there, e.g. `[{"numeric": [">", 90]}]`. */
  readonly expected: readonly unknown[];
  /** The value found at `path` (undefined when absent). */
  readonly actual: unknown;
  /** True when the event has no value at `path`. */
  readonly absent: boolean;
}

/** The answer of {@link CompiledPattern.explain}. */
export type PatternExplanation =
  | { readonly matched: true }
  | {
      readonly matched: false;
      /** The failure of the alternative that came closest (most conditions met before failing). */
      readonly mismatch: PatternMismatch;
      /** One failure per alternative, when `$or` (or `{"exists": false}` beside values) made several. */
      readonly alternatives: readonly PatternMismatch[];
    };

/** A content pattern, compiled. */
export interface CompiledPattern {
  /** The pattern as given. */
  readonly source: unknown;
  /** Key path of the pattern in its file. */
  readonly path: string;
  /** Whether `event` (a parsed JSON object; a `ReactorEvent`) matches. */
  matches(event: unknown): boolean;
  /** Whether it matches, and if not, why (slower than {@link matches}: for operators' tools). */
  explain(event: unknown): PatternExplanation;
}

/**
 * Compile a content pattern.
 *
 * @param json - the pattern, as parsed from JSON
 * @param at - where it is, e.g. `{ file, path: 'local:disk.*[0].when' }`
 * @throws {ConfigError} listing every problem, each at its key path under `at.path`
 *   (`local:disk.*[0].when.payload.used[0].numeric: ...`)
 */
export function compilePattern(json: unknown, at: RuleSource): CompiledPattern {
  const problems = new ProblemList(at);
  const alternatives = buildAlternatives(json, at.path, problems);
  problems.throwIfAny();
  const tests = alternatives.map((alt) => compileNode(alt));
  const matches: (event: unknown) => boolean =
    tests.length === 1
      ? tests[0]!
      : (event) => {
          for (const t of tests) if (t(event)) return true;
          return false;
        };
  return {
    source: json,
    path: at.path,
    matches,
    explain: (event) => explainAlternatives(alternatives, event),
  };
}

type Test = (value: unknown) => boolean;

/** Names that plain objects inherit: read them only when the event has them itself. */
function inherited(key: string): boolean {
  return key in Object.prototype;
}

/** The own field `key` of `obj`. */
function field(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function compileNode(node: Node): Test {
  return node.kind === 'leaf' ? compileLeaf(node) : compileObject(node);
}

function compileLeaf(node: LeafNode): Test {
  if (node.absent) return hasNoLeaf;
  const test = node.list.test;
  return (v) => {
    switch (typeof v) {
      case 'string':
      case 'number':
      case 'boolean':
        return test(v);
      case 'object':
        if (v === null) return test(null);
        return Array.isArray(v) && someLeaf(v, test);
      default:
        return false;
    }
  };
}

/** True when `v` holds no leaf value (absent, an object, or arrays of those). */
function hasNoLeaf(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'object' || v === null) return false;
  if (!Array.isArray(v)) return true;
  return !someLeaf(v, () => true);
}

/** Whether a leaf value in `array` (arrays inside flattened; objects skipped) passes `test`. No recursion: any depth. */
function someLeaf(array: readonly unknown[], test: (v: LeafValue) => boolean): boolean {
  // Flat arrays, the usual case, without the stack.
  let i = 0;
  for (; i < array.length; i++) {
    const e = array[i];
    if (e === null || typeof e === 'string' || typeof e === 'number' || typeof e === 'boolean') {
      if (test(e)) return true;
    } else if (Array.isArray(e)) break;
  }
  if (i === array.length) return false;
  const stack: (readonly unknown[])[] = [array];
  const index: number[] = [i];
  while (stack.length > 0) {
    const top = stack.length - 1;
    const arr = stack[top]!;
    const j = index[top]!;
    if (j >= arr.length) {
      stack.pop();
      index.pop();
      continue;
    }
    index[top] = j + 1;
    const e = arr[j];
    if (Array.isArray(e)) {
      stack.push(e);
      index.push(0);
    } else if (e === null || typeof e === 'string' || typeof e === 'number' || typeof e === 'boolean') {
      if (test(e)) return true;
    }
  }
  return false;
}

/** Whether some (`want` true) or every (`want` false) non-array element of `array`, arrays flattened, passes `test`. */
function elements(array: readonly unknown[], test: Test, want: boolean): boolean {
  let i = 0;
  for (; i < array.length; i++) {
    const e = array[i];
    if (Array.isArray(e)) break;
    if (test(e) === want) return want;
  }
  if (i === array.length) return !want;
  const stack: (readonly unknown[])[] = [array];
  const index: number[] = [i];
  while (stack.length > 0) {
    const top = stack.length - 1;
    const arr = stack[top]!;
    const j = index[top]!;
    if (j >= arr.length) {
      stack.pop();
      index.pop();
      continue;
    }
    index[top] = j + 1;
    const e = arr[j];
    if (Array.isArray(e)) {
      stack.push(e);
      index.push(0);
    } else if (test(e) === want) return want;
  }
  return !want;
}

function compileObject(node: ObjectNode): Test {
  const keys: string[] = [];
  const tests: Test[] = [];
  const safe: boolean[] = [];
  for (const [key, child] of node.fields) {
    keys.push(key);
    tests.push(compileNode(child));
    safe.push(!inherited(key));
  }
  const n = keys.length;
  const positive = node.positive;
  // What a value that is not an object gives: no fields to find (false when some are needed).
  const otherwise = !positive;
  // One and two plain fields, the common shapes, test the object inline: one call less per level.
  if (n === 1 && safe[0]) {
    const k0 = keys[0]!;
    const t0 = tests[0]!;
    const test: Test = (v) => {
      if (typeof v !== 'object' || v === null) return otherwise;
      if (Array.isArray(v)) return elements(v, test, positive);
      return t0((v as Record<string, unknown>)[k0]);
    };
    return test;
  }
  if (n === 2 && safe[0] && safe[1]) {
    const k0 = keys[0]!;
    const t0 = tests[0]!;
    const k1 = keys[1]!;
    const t1 = tests[1]!;
    const test: Test = (v) => {
      if (typeof v !== 'object' || v === null) return otherwise;
      if (Array.isArray(v)) return elements(v, test, positive);
      const o = v as Record<string, unknown>;
      return t0(o[k0]) && t1(o[k1]);
    };
    return test;
  }
  const onObject = (o: Record<string, unknown>): boolean => {
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      if (!tests[i]!(safe[i] ? o[k] : field(o, k))) return false;
    }
    return true;
  };
  // Positive: some element must carry all the fields (the alternative's values come from
  // one element). Only absences below: they must hold in every element.
  const test: Test = (v) => {
    if (typeof v !== 'object' || v === null) return otherwise;
    if (Array.isArray(v)) return elements(v, test, positive);
    return onObject(v as Record<string, unknown>);
  };
  return test;
}

// ---- explanations: an interpreter over the same trees, slower, tracking where it failed ----

interface Miss {
  mismatch: PatternMismatch;
  /** Conditions met before the failure: the larger, the closer the event came. */
  score: number;
}

type Outcome = { ok: true; score: number } | { ok: false; miss: Miss };

function explainAlternatives(alternatives: readonly ObjectNode[], event: unknown): PatternExplanation {
  const misses: Miss[] = [];
  for (const alt of alternatives) {
    const r = explainNode(alt, event, '', 0);
    if (r.ok) return { matched: true };
    misses.push(r.miss);
  }
  let best = misses[0]!;
  for (const m of misses) if (m.score > best.score) best = m;
  return { matched: false, mismatch: best.mismatch, alternatives: misses.map((m) => m.mismatch) };
}

function explainNode(node: Node, v: unknown, path: string, score: number): Outcome {
  if (node.kind === 'leaf') {
    const ok = node.absent ? hasNoLeaf(v) : compileLeaf(node)(v);
    if (ok) return { ok: true, score: score + 1 };
    return { ok: false, miss: { score, mismatch: leafMismatch(node, v, path) } };
  }
  if (Array.isArray(v)) return explainArray(node, v, path, score);
  if (!isPlainObject(v)) {
    if (!node.positive) return { ok: true, score };
    // Nothing to look into: report the first field that needs a value, against what is here.
    const [relative, leaf] = firstPositiveLeaf(node);
    return {
      ok: false,
      miss: { score, mismatch: { path: join(path, relative), patternPath: leaf.patternPath, expected: leaf.list.source, actual: v, absent: v === undefined } },
    };
  }
  let s = score;
  for (const [key, child] of node.fields) {
    const r = explainNode(child, field(v, key), childPath(path, key), s);
    if (!r.ok) return r;
    s = r.score;
  }
  return { ok: true, score: s };
}

function explainArray(node: ObjectNode, v: readonly unknown[], path: string, score: number): Outcome {
  const flat = flatten(v, path);
  if (node.positive) {
    let best: Miss | undefined;
    for (const [e, at] of flat) {
      const r = explainNode(node, e, at, score);
      if (r.ok) return r;
      if (best === undefined || r.miss.score > best.score) best = r.miss;
    }
    if (best) return { ok: false, miss: best };
    const [relative, leaf] = firstPositiveLeaf(node);
    return {
      ok: false,
      miss: { score, mismatch: { path: join(path, relative), patternPath: leaf.patternPath, expected: leaf.list.source, actual: v, absent: false } },
    };
  }
  let s = score;
  for (const [e, at] of flat) {
    const r = explainNode(node, e, at, score);
    if (!r.ok) return r;
    s = Math.max(s, r.score);
  }
  return { ok: true, score: s };
}

function leafMismatch(node: LeafNode, v: unknown, path: string): PatternMismatch {
  const base = { patternPath: node.patternPath, expected: node.list.source };
  if (node.absent && Array.isArray(v)) {
    // Name the first leaf value that is there although it must not be.
    for (const [e, at] of flatten(v, path)) {
      if (e === null || typeof e !== 'object') return { ...base, path: at, actual: e, absent: false };
    }
  }
  return { ...base, path, actual: v, absent: v === undefined };
}

/** Non-array elements of nested arrays, with their paths (`a[1][0]`), in order. No recursion: any depth. */
function flatten(v: readonly unknown[], path: string): [unknown, string][] {
  const out: [unknown, string][] = [];
  const stack: [readonly unknown[], string, number][] = [[v, path, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [arr, at, i] = top;
    if (i >= arr.length) {
      stack.pop();
      continue;
    }
    top[2] = i + 1;
    const e = arr[i];
    if (Array.isArray(e)) stack.push([e, indexPath(at, i), 0]);
    else out.push([e, indexPath(at, i)]);
  }
  return out;
}

function firstPositiveLeaf(node: ObjectNode): [string, LeafNode] {
  for (const [key, child] of node.fields) {
    if (!child.positive) continue;
    if (child.kind === 'leaf') return [childPath('', key), child];
    const [rest, leaf] = firstPositiveLeaf(child);
    return [join(childPath('', key), rest), leaf];
  }
  throw new Error('firstPositiveLeaf: no positive leaf under a positive node');
}

function join(base: string, relative: string): string {
  if (base === '') return relative;
  return relative.startsWith('[') ? base + relative : `${base}.${relative}`;
}
