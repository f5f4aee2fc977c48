/**
 * The compiled content-pattern matcher against a reference written from the definition,
 * as aws/event-ruler's README states it for `rulesForJSONEvent`:
 *
 * - the event is a list of leaf fields (path, value), each remembering which element of
 *   every array above it it lies in;
 * - a pattern is a set of sub-rules (`$or` and `{"exists": false}` beside values multiply
 *   them out); a sub-rule matches when each of its fields that needs a value can be given
 *   a leaf with that path and a satisfying value, all the chosen leaves agreeing on the
 *   element of every array they share, and no leaf at the path of a field that must be
 *   absent agrees with that choice.
 *
 * The search is brute force over leaves; conditions are interpreted from the JSON with
 * JavaScript's own tools (RegExp for `regex`, node:net BlockList for IP addresses).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList, isIP } from 'node:net';
import fc from 'fast-check';
import { compilePattern } from '../../src/rules/pattern.js';
import { ConfigError } from '../../src/errors.js';

type Leaf = { path: string[]; value: unknown; members: Map<string, number> };
type Field = { path: string[]; list: unknown[]; absent: boolean };

function leavesOf(v: unknown, path: string[], loc: string, members: Map<string, number>, out: Leaf[]): void {
  if (Array.isArray(v)) {
    v.forEach((e, i) => {
      const m = new Map(members);
      m.set(loc, i);
      leavesOf(e, path, `${loc}[${i}]`, m, out);
    });
  } else if (typeof v === 'object' && v !== null) {
    for (const k of Object.keys(v)) leavesOf((v as Record<string, unknown>)[k], [...path, k], `${loc}.${JSON.stringify(k)}`, members, out);
  } else {
    out.push({ path, value: v, members });
  }
}

const isExistsFalse = (c: unknown): boolean => typeof c === 'object' && c !== null && (c as Record<string, unknown>)['exists'] === false;

function subRules(pattern: Record<string, unknown>, prefix: string[]): Field[][] {
  let rules: Field[][] = [[]];
  const times = (alts: Field[][]): void => {
    rules = rules.flatMap((r) => alts.map((a) => [...r, ...a]));
  };
  for (const k of Object.keys(pattern)) {
    const v = pattern[k];
    if (k === '$or') times((v as Record<string, unknown>[]).flatMap((b) => subRules(b, prefix)));
    else if (Array.isArray(v)) {
      const alts: Field[][] = [];
      const others = v.filter((c) => !isExistsFalse(c));
      if (others.length > 0) alts.push([{ path: [...prefix, k], list: others, absent: false }]);
      if (others.length < v.length) alts.push([{ path: [...prefix, k], list: [], absent: true }]);
      times(alts);
    } else times(subRules(v as Record<string, unknown>, [...prefix, k]));
  }
  return rules;
}

const samePath = (a: string[], b: string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function consistent(a: Map<string, number>, b: Map<string, number>): boolean {
  for (const [k, i] of b) if (a.has(k) && a.get(k) !== i) return false;
  return true;
}

function referenceMatches(pattern: Record<string, unknown>, event: unknown): boolean {
  const leaves: Leaf[] = [];
  leavesOf(event, [], '$', new Map(), leaves);
  return subRules(pattern, []).some((fields) => {
    const needed = fields.filter((f) => !f.absent);
    const absent = fields.filter((f) => f.absent);
    const search = (i: number, members: Map<string, number>): boolean => {
      if (i === needed.length) return absent.every((f) => !leaves.some((l) => samePath(l.path, f.path) && consistent(members, l.members)));
      const f = needed[i]!;
      for (const l of leaves) {
        if (!samePath(l.path, f.path) || !consistent(members, l.members) || !f.list.some((c) => satisfies(c, l.value))) continue;
        if (search(i + 1, new Map([...members, ...l.members]))) return true;
      }
      return false;
    };
    return search(0, new Map());
  });
}

const memo = new Map<string, boolean>();
function remember(key: string, f: () => boolean): boolean {
  let r = memo.get(key);
  if (r === undefined) memo.set(key, (r = f()));
  return r;
}

function sameIp(a: string, b: string): boolean {
  return remember(`ip ${a} ${b}`, () => sameIpUncached(a, b));
}

function sameIpUncached(a: string, b: string): boolean {
  const fa = isIP(a);
  if (fa === 0 || fa !== isIP(b)) return false;
  const list = new BlockList();
  list.addAddress(a, fa === 4 ? 'ipv4' : 'ipv6');
  return list.check(b, fa === 4 ? 'ipv4' : 'ipv6');
}

function inCidr(cidr: string, v: string): boolean {
  return remember(`cidr ${cidr} ${v}`, () => inCidrUncached(cidr, v));
}

function inCidrUncached(cidr: string, v: string): boolean {
  const [net, bits] = cidr.split('/') as [string, string];
  const family = isIP(net);
  if (family === 0 || isIP(v) !== family) return false;
  const list = new BlockList();
  list.addSubnet(net, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
  return list.check(v, family === 4 ? 'ipv4' : 'ipv6');
}

function wildcard(p: string, s: string): boolean {
  // Recursive, on the pattern text: "\*" and "\\" are literal characters.
  const go = (pi: number, si: number): boolean => {
    if (pi === p.length) return si === s.length;
    if (p[pi] === '*') {
      for (let k = si; k <= s.length; k++) if (go(pi + 1, k)) return true;
      return false;
    }
    const c = p[pi] === '\\' ? p[pi + 1] : p[pi];
    const width = p[pi] === '\\' ? 2 : 1;
    return si < s.length && s[si] === c && go(pi + width, si + 1);
  };
  return go(0, 0);
}

function satisfies(c: unknown, v: unknown): boolean {
  if (c === null || typeof c === 'boolean' || typeof c === 'number') return v === c;
  if (typeof c === 'string') return v === c || (typeof v === 'string' && sameIp(c, v));
  const [op, arg] = Object.entries(c as Record<string, unknown>)[0]!;
  const str = typeof v === 'string' ? v : undefined;
  const lower = (x: string): string => x.toLowerCase();
  switch (op) {
    case 'exists':
      return arg === true;
    case 'exactly':
      return v === arg;
    case 'prefix':
      return (
        str !== undefined &&
        (typeof arg === 'string' ? str.startsWith(arg) : lower(str).startsWith(lower((arg as Record<string, string>)['equals-ignore-case']!)))
      );
    case 'suffix':
      return (
        str !== undefined && (typeof arg === 'string' ? str.endsWith(arg) : lower(str).endsWith(lower((arg as Record<string, string>)['equals-ignore-case']!)))
      );
    case 'equals-ignore-case':
      return str !== undefined && lower(str) === lower(arg as string);
    case 'wildcard':
      return str !== undefined && wildcard(arg as string, str);
    case 'regex':
      return str !== undefined && remember(`re ${String(arg)} ${str}`, () => new RegExp(arg as string, 'u').test(str));
    case 'cidr':
      return str !== undefined && inCidr(arg as string, str);
    case 'numeric': {
      if (typeof v !== 'number') return false;
      const a = arg as (string | number)[];
      for (let i = 0; i < a.length; i += 2) {
        const n = a[i + 1] as number;
        const ok = { '<': v < n, '<=': v <= n, '=': v === n, '>=': v >= n, '>': v > n }[a[i] as string];
        if (!ok) return false;
      }
      return true;
    }
    case 'anything-but': {
      if (typeof arg === 'string' || typeof arg === 'number') return v !== arg;
      if (Array.isArray(arg)) return !arg.includes(v);
      const [kind, raw] = Object.entries(arg as Record<string, unknown>)[0]!;
      const list = typeof raw === 'string' ? [raw] : (raw as string[]);
      if (str === undefined) return true;
      const hit = {
        prefix: () => list.some((p) => str.startsWith(p)),
        suffix: () => list.some((p) => str.endsWith(p)),
        'equals-ignore-case': () => list.some((p) => lower(p) === lower(str)),
        wildcard: () => list.some((p) => wildcard(p, str)),
      }[kind]!();
      return !hit;
    }
    default:
      throw new Error(`reference: unknown operator ${op}`);
  }
}

// ---- generators: small pools so that matches and near misses are both common ----

const NAMES = ['a', 'b', 'c'] as const;
const STRINGS = ['x', 'y', 'xy', 'Xy', 'x*y', '', '10.0.0.1', '10.0.0.200', '10.0.1.1', '::1', '0:0:0:0:0:0:0:1', '2001:db8::5'];
const leafValue = fc.oneof(fc.constantFrom(...STRINGS), fc.constantFrom(0, 1, 2.5, -3, 100), fc.boolean(), fc.constant(null));

const condition = fc.oneof(
  { weight: 4, arbitrary: leafValue },
  {
    weight: 6,
    arbitrary: fc.constantFrom<unknown>(
      { prefix: 'x' },
      { prefix: { 'equals-ignore-case': 'X' } },
      { suffix: 'y' },
      { suffix: { 'equals-ignore-case': 'Y' } },
      { 'equals-ignore-case': 'XY' },
      { exactly: 'x' },
      { wildcard: 'x*' },
      { wildcard: '*y' },
      { wildcard: 'x*y' },
      { wildcard: 'x\\*y' },
      { numeric: ['>', 0] },
      { numeric: ['>=', 0, '<', 3] },
      { numeric: ['=', 1] },
      { numeric: ['<=', -3] },
      { numeric: ['>', -3, '<=', 100] },
      { cidr: '10.0.0.0/24' },
      { cidr: '::/120' },
      { cidr: '10.0.0.1/32' },
      { 'anything-but': 'x' },
      { 'anything-but': 1 },
      { 'anything-but': ['x', 'y'] },
      { 'anything-but': [0, 1] },
      { 'anything-but': { prefix: 'x' } },
      { 'anything-but': { suffix: ['y', 'z'] } },
      { 'anything-but': { 'equals-ignore-case': 'XY' } },
      { 'anything-but': { wildcard: 'x*' } },
      { exists: true },
      { exists: false },
      { regex: '^x+y?$' },
      { regex: '[0-9]' },
    ),
  },
);

const valueList = fc.array(condition, { minLength: 1, maxLength: 3 });

const { pattern } = fc.letrec<{ pattern: Record<string, unknown>; field: unknown }>((tie) => ({
  field: fc.oneof({ depthSize: 'small', withCrossShrink: true }, valueList, tie('pattern')),
  pattern: fc
    .tuple(
      fc.dictionary(fc.constantFrom(...NAMES), tie('field'), { minKeys: 1, maxKeys: 3 }),
      fc.option(fc.array(fc.dictionary(fc.constantFrom(...NAMES), valueList, { minKeys: 1, maxKeys: 2 }), { minLength: 2, maxLength: 3 }), { freq: 4 }),
    )
    .map(([fields, or]) => (or ? { ...fields, $or: or } : fields)),
}));

const { value: eventValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: leafValue },
    { weight: 2, arbitrary: fc.array(tie('value'), { maxLength: 3 }) },
    { weight: 2, arbitrary: fc.dictionary(fc.constantFrom(...NAMES), tie('value'), { minKeys: 1, maxKeys: 3 }) },
  ),
}));
const event = fc.dictionary(fc.constantFrom(...NAMES), eventValue, { minKeys: 2, maxKeys: 3 });

function compileOrSkip(p: Record<string, unknown>): ReturnType<typeof compilePattern> | undefined {
  try {
    return compilePattern(p, { path: 'p' });
  } catch (err) {
    // Patterns the generator makes invalid on purpose (a field given beside and inside $or),
    // and the rare nesting that multiplies out past the limit of alternatives.
    if (err instanceof ConfigError && err.problems.every((x) => /twice|more than \d+ alternatives/.test(x.message))) return undefined;
    throw err;
  }
}

test('pattern - property: compiled matcher agrees with the reference interpreter on random patterns and events', () => {
  let matched = 0;
  let total = 0;
  fc.assert(
    fc.property(pattern, fc.array(event, { minLength: 1, maxLength: 16 }), (p, events) => {
      const compiled = compileOrSkip(p);
      fc.pre(compiled !== undefined);
      for (const e of events) {
        const want = referenceMatches(p, e);
        total++;
        if (want) matched++;
        assert.equal(compiled.matches(e), want, `pattern ${JSON.stringify(p)}\nevent ${JSON.stringify(e)}`);
      }
    }),
    { numRuns: 1500 },
  );
  // The generators must exercise both outcomes, not only one.
  assert.ok(matched > total * 0.05 && matched < total * 0.95, `matched ${matched} of ${total}`);
});

test('pattern - property: explain agrees with matches, and a mismatch names a condition of the pattern', () => {
  fc.assert(
    fc.property(pattern, event, (p, e) => {
      const compiled = compileOrSkip(p);
      fc.pre(compiled !== undefined);
      const x = compiled.explain(e);
      assert.equal(x.matched, compiled.matches(e));
      if (!x.matched) {
        assert.ok(x.mismatch.patternPath.startsWith('p.'), x.mismatch.patternPath);
        assert.ok(Array.isArray(x.mismatch.expected));
        assert.ok(x.alternatives.includes(x.mismatch));
      }
    }),
    { numRuns: 1000 },
  );
});
