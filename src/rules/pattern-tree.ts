/**
 * A content pattern's JSON, checked and brought into the form the matcher evaluates: a
 * list of alternatives (as aws/event-ruler turns one rule with `$or` into several
 * sub-rules), each a tree of fields where every leaf holds either conditions a leaf value
 * must meet or `{"exists": false}`, never both.
 *
 * `$or` is expanded by distributing it over its siblings (`{a, $or: [b, c]}` becomes
 * `{a, b}` or `{a, c}`); a value list mixing `{"exists": false}` with other conditions
 * splits into an alternative where the field is absent and one where it has a matching
 * value. Splitting is what keeps array consistency exact: see pattern.ts.
 */
import { compileValueList, isPlainObject, RESERVED_NAMES, type ValueList } from './conditions.js';
import { childPath, indexPath, type ProblemList } from './rule-source.js';

/** Deepest nesting of objects accepted in a pattern (the event allows 64 levels). */
export const MAX_PATTERN_DEPTH = 64;
/** Most alternatives a pattern may expand to (through `$or` and `{"exists": false}` mixed with values). */
export const MAX_ALTERNATIVES = 256;

/** A field of one alternative whose value must be an object holding `fields`. */
export interface ObjectNode {
  readonly kind: 'object';
  /** In the order written (fields from `$or` branches after their siblings). */
  readonly fields: ReadonlyMap<string, Node>;
  /** True when a leaf below requires a value (not only absences). */
  readonly positive: boolean;
}

/** A field of one alternative that is a leaf of the pattern. */
export interface LeafNode {
  readonly kind: 'leaf';
  /** The value list (all of it, as written, even when this alternative uses one part). */
  readonly list: ValueList;
  /** True: the field must be absent (`{"exists": false}`); false: a leaf value must pass `list.test`. */
  readonly absent: boolean;
  readonly positive: boolean;
  /** Key path of the value list in the rules file. */
  readonly patternPath: string;
}

export type Node = ObjectNode | LeafNode;

/**
 * Check `json` and expand it into alternatives. Problems are added to `problems` with
 * paths under `path`; the result is empty when there was any.
 */
export function buildAlternatives(json: unknown, path: string, problems: ProblemList): ObjectNode[] {
  const before = problems.problems.length;
  if (!isPlainObject(json)) {
    problems.add(path, 'a content pattern is an object of fields, e.g. {"payload": {"used": [{"numeric": [">", 90]}]}}');
    return [];
  }
  const alternatives = expandObject(json, path, 1, false, problems);
  return problems.problems.length > before ? [] : alternatives;
}

function expandObject(obj: Record<string, unknown>, path: string, depth: number, insideOr: boolean, problems: ProblemList): ObjectNode[] {
  if (depth > MAX_PATTERN_DEPTH) {
    problems.add(path, `nested deeper than ${MAX_PATTERN_DEPTH} levels`);
    return [];
  }
  const keys = Object.keys(obj);
  if (keys.length === 0) {
    problems.add(path, 'an empty object matches nothing: give at least one field');
    return [];
  }
  let alts: ObjectNode[] = [EMPTY];
  for (const key of keys) {
    const value = obj[key];
    const at = childPath(path, key);
    let parts: ObjectNode[];
    if (key === '$or') {
      parts = expandOr(value, at, depth, problems);
    } else {
      if (insideOr && RESERVED_NAMES.has(key)) {
        problems.add(
          at,
          `"${key}" is an operator name, so it cannot be a field name inside $or; put operators in a field's list, e.g. {"field": [{"${key}": ...}]}`,
        );
        continue;
      }
      let children: Node[];
      if (Array.isArray(value)) children = leafAlternatives(value, at, problems);
      else if (isPlainObject(value)) children = expandObject(value, at, depth + 1, insideOr, problems);
      else {
        problems.add(at, `must be a list of values (e.g. [${JSON.stringify(value ?? null)}]) or an object of fields`);
        continue;
      }
      parts = children.map((child) => objectNode(new Map([[key, child]])));
    }
    // A field with problems has no alternatives: skip it and go on, to report every problem.
    if (parts.length === 0) continue;
    const next = product(alts, parts, at, problems);
    if (next.length > 0) alts = next;
  }
  return alts;
}

function expandOr(value: unknown, at: string, depth: number, problems: ProblemList): ObjectNode[] {
  if (!Array.isArray(value) || value.length < 2) {
    problems.add(at, '$or takes a list of at least two objects, each a pattern of fields');
    return [];
  }
  const out: ObjectNode[] = [];
  (value as unknown[]).forEach((branch, i) => {
    const bat = indexPath(at, i);
    if (!isPlainObject(branch)) {
      problems.add(bat, 'each $or alternative is an object of fields');
      return;
    }
    // A branch is at the level of its $or: its fields sit beside the $or's siblings.
    out.push(...expandObject(branch, bat, depth, true, problems));
  });
  if (out.length > MAX_ALTERNATIVES) {
    problems.add(at, `expands to more than ${MAX_ALTERNATIVES} alternatives; simplify the pattern`);
    return [];
  }
  return out;
}

function leafAlternatives(list: unknown[], at: string, problems: ProblemList): LeafNode[] {
  const compiled = compileValueList(list, at, problems);
  if (compiled === undefined) return [];
  const out: LeafNode[] = [];
  if (compiled.conditions.length > 0) out.push({ kind: 'leaf', list: compiled, absent: false, positive: true, patternPath: at });
  if (compiled.allowsAbsent) out.push({ kind: 'leaf', list: compiled, absent: true, positive: false, patternPath: at });
  return out;
}

const EMPTY: ObjectNode = { kind: 'object', fields: new Map(), positive: false };

function objectNode(fields: ReadonlyMap<string, Node>): ObjectNode {
  let positive = false;
  for (const f of fields.values()) positive ||= f.positive;
  return { kind: 'object', fields, positive };
}

/** Every alternative of `left` merged with every one of `right`. */
function product(left: readonly ObjectNode[], right: readonly ObjectNode[], at: string, problems: ProblemList): ObjectNode[] {
  if (left.length * right.length > MAX_ALTERNATIVES) {
    problems.add(at, `the pattern expands to more than ${MAX_ALTERNATIVES} alternatives ($or and {"exists": false} beside other values multiply); simplify it`);
    return [];
  }
  const out: ObjectNode[] = [];
  for (const l of left) {
    for (const r of right) {
      const merged = merge(l, r, at, problems);
      if (merged === undefined) return [];
      out.push(merged);
    }
  }
  return out;
}

/** Fields of both; a field in both must be an object in both (merged), never a leaf. */
function merge(a: ObjectNode, b: ObjectNode, at: string, problems: ProblemList): ObjectNode | undefined {
  if (b.fields.size === 0) return a;
  if (a.fields.size === 0) return b;
  const fields = new Map(a.fields);
  for (const [key, node] of b.fields) {
    const mine = fields.get(key);
    if (mine === undefined) fields.set(key, node);
    else if (mine.kind === 'object' && node.kind === 'object') {
      const m = merge(mine, node, at, problems);
      if (m === undefined) return undefined;
      fields.set(key, m);
    } else {
      const where = node.kind === 'leaf' ? node.patternPath : mine.kind === 'leaf' ? mine.patternPath : at;
      problems.add(where, `the field "${key}" gets conditions twice (beside and inside $or); EventBridge would keep only one: give it once`);
      return undefined;
    }
  }
  return objectNode(fields);
}
