/**
 * The value list of a content-pattern field (`"used": [{"numeric": [">", 90]}, 0]`): each
 * element is a condition on one leaf value of the event (a string, number, boolean or
 * null), and the field matches a leaf value satisfying any of them. EventBridge's rules,
 * as aws/event-ruler implements them:
 *
 * | element | matches a leaf value that is |
 * |---|---|
 * | `"text"` | the same string (if "text" is an IP address: a string naming the same address) |
 * | `5` | a number equal to 5 (`5.0` too; never the string "5") |
 * | `true`, `false`, `null` | that literal |
 * | `{"exactly": "text"}` | the same string |
 * | `{"prefix": "p"}`, `{"prefix": {"equals-ignore-case": "p"}}` | a string starting with p |
 * | `{"suffix": "s"}`, `{"suffix": {"equals-ignore-case": "s"}}` | a string ending with s |
 * | `{"equals-ignore-case": "t"}` | a string equal to t ignoring case |
 * | `{"wildcard": "a*b"}` | a string matching (only `*`; `\*` and `\\` escape) |
 * | `{"numeric": [">", 0, "<=", 5]}` | a number within: one comparison (`<`, `<=`, `=`, `>=`, `>`) or a lower then an upper bound |
 * | `{"cidr": "10.0.0.0/24"}` | a string that is an IPv4/IPv6 address in the block |
 * | `{"anything-but": ...}` | any leaf value not excluded: by a string, a number, a list of strings or of numbers, or `{"prefix"\|"suffix"\|"equals-ignore-case"\|"wildcard": string or list}` (which exclude strings only) |
 * | `{"exists": true}` | any leaf value |
 * | `{"exists": false}` | (no value: the field has no leaf value) |
 * | `{"regex": "re"}` | a string in which the RE2 expression finds a match (an extension, linear time) |
 *
 * Case is ignored by comparing `toLowerCase()` of both sides.
 */
import { RE2JS } from 're2js';
import { cidrContains, parseCidr, parseIp, sameIp, type IpBytes } from './ip-address.js';
import { childPath, indexPath, type ProblemList } from './rule-source.js';
import { compileWildcard } from './wildcard.js';

/** A leaf value of an event: what a condition tests. */
export type LeafValue = string | number | boolean | null;

/** One element of a value list, compiled. */
export interface Condition {
  /** Operator name (`equals` for a plain value). */
  readonly op: string;
  /** The element as written. */
  readonly source: unknown;
  readonly test: (value: LeafValue) => boolean;
}

/** A value list, compiled: the conditions on a leaf value, and whether `{"exists": false}` is one of them. */
export interface ValueList {
  /** The list as written, for explanations. */
  readonly source: readonly unknown[];
  /** Conditions a leaf value may satisfy (empty when the list is only `{"exists": false}`). */
  readonly conditions: readonly Condition[];
  /** True when the list holds `{"exists": false}`: the field may also be absent. */
  readonly allowsAbsent: boolean;
  /** Whether a leaf value satisfies one of `conditions`, with fast paths for plain values. */
  readonly test: (value: LeafValue) => boolean;
}

/** Operator names EventBridge knows or reserves; a field inside `$or` may not be named so. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'exactly',
  'equals-ignore-case',
  'prefix',
  'suffix',
  'anything-but',
  'exists',
  'wildcard',
  'numeric',
  'cidr',
  '=',
  '<',
  '<=',
  '>',
  '>=',
  'regex',
  'not-wildcard',
  'not-equals-ignore-case',
  'date-after',
  'date-on-or-after',
  'date-before',
  'date-on-or-before',
  'in-date-range',
  'ip-address-in-range',
  'ip-address-not-in-range',
]);

const OPERATORS = ['prefix', 'suffix', 'equals-ignore-case', 'wildcard', 'numeric', 'cidr', 'anything-but', 'exists', 'exactly', 'regex'];

/** Longest `regex` expression accepted, in characters. */
export const MAX_REGEX_LENGTH = 4096;

/**
 * Compile the value list at `path` (already known to be an array). Problems go to `problems`
 * under `path[i]` or `path[i].operator`; the result is undefined when there was any.
 */
export function compileValueList(list: readonly unknown[], path: string, problems: ProblemList): ValueList | undefined {
  const before = problems.problems.length;
  if (list.length === 0) problems.add(path, 'an empty list matches nothing: give at least one value or operator');
  const conditions: Condition[] = [];
  let allowsAbsent = false;
  list.forEach((element, i) => {
    const at = indexPath(path, i);
    if (isPlainObject(element)) {
      const keys = Object.keys(element);
      if (keys.length !== 1) {
        problems.add(
          at,
          `an operator is an object with exactly one key (${OPERATORS.join(', ')}); got ${keys.length === 0 ? 'none' : keys.map((k) => JSON.stringify(k)).join(', ')}`,
        );
        return;
      }
      const op = keys[0]!;
      if (op === 'exists') {
        const v = element[op];
        if (v === false) allowsAbsent = true;
        else if (v === true) conditions.push({ op, source: element, test: () => true });
        else problems.add(childPath(at, op), 'must be true or false');
        return;
      }
      const c = compileOperator(op, element[op], element, childPath(at, op), problems);
      if (c) conditions.push(c);
    } else if (typeof element === 'string') {
      conditions.push(equalsString(element));
    } else if (typeof element === 'number') {
      if (!Number.isFinite(element)) problems.add(at, 'must be a finite number');
      else conditions.push({ op: 'equals', source: element, test: (v) => v === element });
    } else if (element === true || element === false || element === null) {
      conditions.push({ op: 'equals', source: element, test: (v) => v === element });
    } else {
      problems.add(at, `must be a string, number, true, false, null or an operator object, not ${describeType(element)}`);
    }
  });
  if (problems.problems.length > before) return undefined;
  return { source: list, conditions, allowsAbsent, test: fastTest(conditions) };
}

function compileOperator(op: string, arg: unknown, source: unknown, at: string, problems: ProblemList): Condition | undefined {
  const str = (what = 'a string'): string | undefined => {
    if (typeof arg === 'string') return arg;
    problems.add(at, `must be ${what}`);
    return undefined;
  };
  const make = (test: (v: LeafValue) => boolean): Condition => ({ op, source, test });
  switch (op) {
    case 'exactly': {
      const s = str();
      return s === undefined ? undefined : make((v) => v === s);
    }
    case 'prefix':
    case 'suffix': {
      const starts = op === 'prefix';
      if (isPlainObject(arg)) {
        const keys = Object.keys(arg);
        const inner = arg['equals-ignore-case'];
        if (keys.length !== 1 || typeof inner !== 'string') {
          problems.add(at, `must be a string or {"equals-ignore-case": string}`);
          return undefined;
        }
        const lower = inner.toLowerCase();
        return make((v) => typeof v === 'string' && (starts ? v.toLowerCase().startsWith(lower) : v.toLowerCase().endsWith(lower)));
      }
      const s = str('a string or {"equals-ignore-case": string}');
      if (s === undefined) return undefined;
      return make(starts ? (v) => typeof v === 'string' && v.startsWith(s) : (v) => typeof v === 'string' && v.endsWith(s));
    }
    case 'equals-ignore-case': {
      const s = str();
      if (s === undefined) return undefined;
      const lower = s.toLowerCase();
      return make((v) => typeof v === 'string' && v.toLowerCase() === lower);
    }
    case 'wildcard': {
      const s = str();
      if (s === undefined) return undefined;
      const m = compileWildcard(s);
      if (typeof m === 'string') {
        problems.add(at, m);
        return undefined;
      }
      return make((v) => typeof v === 'string' && m(v));
    }
    case 'numeric':
      return compileNumeric(arg, source, at, problems);
    case 'cidr': {
      const s = str('a CIDR block such as "10.0.0.0/24"');
      if (s === undefined) return undefined;
      const block = parseCidr(s);
      if (typeof block === 'string') {
        problems.add(at, block);
        return undefined;
      }
      return make((v) => {
        if (typeof v !== 'string') return false;
        const ip = parseIp(v);
        return ip !== undefined && cidrContains(block, ip);
      });
    }
    case 'anything-but':
      return compileAnythingBut(arg, source, at, problems);
    case 'regex': {
      const s = str('a regular expression (RE2 syntax) in a string');
      if (s === undefined) return undefined;
      if (s.length > MAX_REGEX_LENGTH) {
        problems.add(at, `is ${s.length} characters long; at most ${MAX_REGEX_LENGTH} are accepted`);
        return undefined;
      }
      let re: RE2JS;
      try {
        re = RE2JS.compile(s);
      } catch (err) {
        problems.add(at, `not a valid RE2 regular expression: ${(err as Error).message}`);
        return undefined;
      }
      return make((v) => typeof v === 'string' && re.test(v));
    }
    default:
      problems.add(at, `unknown operator "${op}" (known: ${OPERATORS.join(', ')})`);
      return undefined;
  }
}

/** `["=", 5]`, `[">", 0]`, `[">=", 0, "<", 5]`: one comparison, or a lower bound then an upper bound. */
function compileNumeric(arg: unknown, source: unknown, at: string, problems: ProblemList): Condition | undefined {
  const usage = 'must be ["<" | "<=" | "=" | ">=" | ">", number] or [">" | ">=", low, "<" | "<=", high]';
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) {
    problems.add(at, usage);
    return undefined;
  }
  const items = arg as unknown[];
  for (let i = 0; i < items.length; i += 2) {
    const op = items[i];
    const n = items[i + 1];
    if (op !== '<' && op !== '<=' && op !== '=' && op !== '>=' && op !== '>') {
      problems.add(indexPath(at, i), `unknown comparison ${JSON.stringify(op)}; ${usage}`);
      return undefined;
    }
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      problems.add(indexPath(at, i + 1), `the value compared with "${op}" must be a finite number`);
      return undefined;
    }
  }
  const op1 = items[0] as string;
  const n1 = items[1] as number;
  const make = (test: (v: LeafValue) => boolean): Condition => ({ op: 'numeric', source, test });
  if (items.length === 2) {
    switch (op1) {
      case '<':
        return make((v) => typeof v === 'number' && v < n1);
      case '<=':
        return make((v) => typeof v === 'number' && v <= n1);
      case '=':
        return make((v) => typeof v === 'number' && v === n1);
      case '>=':
        return make((v) => typeof v === 'number' && v >= n1);
      default:
        return make((v) => typeof v === 'number' && v > n1);
    }
  }
  const op2 = items[2] as string;
  const n2 = items[3] as number;
  if ((op1 !== '>' && op1 !== '>=') || (op2 !== '<' && op2 !== '<=')) {
    problems.add(at, `a range is a lower bound (">" or ">=") then an upper bound ("<" or "<="); ${usage}`);
    return undefined;
  }
  if (!(n1 < n2)) {
    problems.add(at, `the lower bound ${n1} must be less than the upper bound ${n2}`);
    return undefined;
  }
  const lowOpen = op1 === '>';
  const highOpen = op2 === '<';
  return make((v) => typeof v === 'number' && (lowOpen ? v > n1 : v >= n1) && (highOpen ? v < n2 : v <= n2));
}

/**
 * `anything-but`: a present leaf value that is not excluded. Strings exclude strings,
 * numbers exclude numbers (compared numerically); prefix, suffix, equals-ignore-case and
 * wildcard exclude strings. A value of another type is never excluded.
 */
function compileAnythingBut(arg: unknown, source: unknown, at: string, problems: ProblemList): Condition | undefined {
  const make = (test: (v: LeafValue) => boolean): Condition => ({ op: 'anything-but', source, test });
  if (typeof arg === 'string') return make((v) => v !== arg);
  if (typeof arg === 'number' && Number.isFinite(arg)) return make((v) => v !== arg);
  if (Array.isArray(arg)) {
    const items = arg as unknown[];
    if (items.length > 0 && items.every((x) => typeof x === 'string')) {
      const set = new Set(items);
      return make((v) => typeof v !== 'string' || !set.has(v));
    }
    if (items.length > 0 && items.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      const set = new Set(items as number[]);
      return make((v) => typeof v !== 'number' || !set.has(v));
    }
    problems.add(at, 'a list after anything-but must hold only strings or only numbers, and at least one');
    return undefined;
  }
  if (isPlainObject(arg)) {
    const keys = Object.keys(arg);
    const kind = keys[0];
    if (keys.length !== 1 || (kind !== 'prefix' && kind !== 'suffix' && kind !== 'equals-ignore-case' && kind !== 'wildcard')) {
      problems.add(at, 'an object after anything-but has one key: prefix, suffix, equals-ignore-case or wildcard');
      return undefined;
    }
    const inner = childPath(at, kind);
    const raw = arg[kind];
    const values = typeof raw === 'string' ? [raw] : Array.isArray(raw) && raw.length > 0 && raw.every((x) => typeof x === 'string') ? raw : undefined;
    if (values === undefined) {
      problems.add(inner, 'must be a string or a non-empty list of strings');
      return undefined;
    }
    switch (kind) {
      case 'prefix':
      case 'suffix': {
        if (values.some((s) => s === '')) {
          problems.add(inner, `an empty ${kind} would exclude every string`);
          return undefined;
        }
        return kind === 'prefix'
          ? make((v) => typeof v !== 'string' || !values.some((p) => v.startsWith(p)))
          : make((v) => typeof v !== 'string' || !values.some((p) => v.endsWith(p)));
      }
      case 'equals-ignore-case': {
        const set = new Set(values.map((s) => s.toLowerCase()));
        return make((v) => typeof v !== 'string' || !set.has(v.toLowerCase()));
      }
      default: {
        const matchers: ((s: string) => boolean)[] = [];
        for (const w of values) {
          const m = compileWildcard(w);
          if (typeof m === 'string') {
            problems.add(inner, m);
            return undefined;
          }
          matchers.push(m);
        }
        return make((v) => typeof v !== 'string' || !matchers.some((m) => m(v)));
      }
    }
  }
  problems.add(at, 'must be a string, a number, a list of strings or of numbers, or {prefix|suffix|equals-ignore-case|wildcard: ...}');
  return undefined;
}

/** A plain string element: the same string, or, when it is an IP address, a string naming the same address. */
function equalsString(s: string): Condition {
  const ip = parseIp(s);
  if (ip === undefined) return { op: 'equals', source: s, test: (v) => v === s };
  return { op: 'equals', source: s, test: (v) => v === s || (typeof v === 'string' && sameAddress(ip, v)) };
}

function sameAddress(ip: IpBytes, text: string): boolean {
  const other = parseIp(text);
  return other !== undefined && sameIp(ip, other);
}

/**
 * One test for the whole list: plain strings and numbers by Set lookup (the common case,
 * and the one that must be fast), then the remaining conditions in order.
 */
function fastTest(conditions: readonly Condition[]): (v: LeafValue) => boolean {
  const strings = new Set<string>();
  const numbers = new Set<number>();
  const literals = new Set<boolean | null>();
  const others: Condition[] = [];
  for (const c of conditions) {
    if (c.op !== 'equals') others.push(c);
    else if (typeof c.source === 'string' && parseIp(c.source) === undefined) strings.add(c.source);
    else if (typeof c.source === 'number') numbers.add(c.source);
    else if (c.source === true || c.source === false || c.source === null) literals.add(c.source);
    else others.push(c);
  }
  if (others.length === 0 && numbers.size === 0 && literals.size === 0) {
    if (strings.size === 1) {
      const only = strings.values().next().value as string;
      return (v) => v === only;
    }
    return (v) => typeof v === 'string' && strings.has(v);
  }
  if (others.length === 1 && strings.size === 0 && numbers.size === 0 && literals.size === 0) return others[0]!.test;
  return (v) => {
    if (typeof v === 'string') {
      if (strings.has(v)) return true;
    } else if (typeof v === 'number') {
      if (numbers.has(v)) return true;
    } else if (literals.has(v)) return true;
    for (const c of others) if (c.test(v)) return true;
    return false;
  };
}

/** A JSON object (not an array, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describeType(v: unknown): string {
  if (Array.isArray(v)) return 'a list (lists do not nest in a value list)';
  return `a ${typeof v}`;
}
