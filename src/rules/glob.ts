/**
 * Handler keys with globs: fnmatch semantics on the whole `namespace:event_type` key, as
 * Python's `fnmatch.fnmatchcase` and Salt's reactor apply them.
 *
 * - `*` matches any run of characters, empty included, `:` and `.` included;
 * - `?` matches exactly one character;
 * - `[seq]` one character in seq, `[!seq]` one character not in seq. A `]` right after
 *   `[` or `[!` is a member; `a-z` is a range (a reversed range such as `z-a` has no
 *   members); a `-` first or last, or right after a range, is a member; `\` is a member
 *   like any other character; a `[` with no closing `]` is a literal `[`;
 * - every other character is literal (there is no escape character: write `[*]` for a
 *   literal `*`). Matching is case-sensitive, and by Unicode code point.
 *
 * A pattern compiles once into a matcher without regular expressions (no backtracking
 * blow-up: the worst case is O(key × pattern) steps, and keys are at most 513 characters).
 */
import { ProblemList, type RuleSource } from './rule-source.js';
import { starMatcher } from './star-match.js';

type Token =
  | { kind: 'lit'; cp: number }
  | { kind: 'any' }
  | { kind: 'star' }
  /** `ranges` holds inclusive code point pairs: [lo0, hi0, lo1, hi1, ...]. */
  | { kind: 'class'; negate: boolean; ranges: readonly number[] };

/** A compiled handler key: exact or glob. */
export interface KeyPattern {
  /** The key as written in the handler table. */
  readonly source: string;
  /** True when the key has no glob metacharacter: it matches only itself. */
  readonly exact: boolean;
  /** What every matching key starts with (all of `source` for an exact key). */
  readonly literalPrefix: string;
  /** What every matching key ends with (all of `source` for an exact key). */
  readonly literalSuffix: string;
  /**
   * The namespace every matching key has, when the pattern fixes it (its literal prefix
   * runs up to a `:`), else undefined. Event namespaces never contain `:`.
   */
  readonly namespace: string | undefined;
  /** Whether `key` (`namespace:event_type`) matches. */
  test(key: string): boolean;
}

/** Characters an event key never contains: a key pattern with them is a mistake. */
const BAD_KEY_CHARS = /[\u0000-\u0020\u007f]/;

/**
 * Why `source` cannot be a handler key, or undefined when it can: it must contain `:`
 * (keys are `namespace:event_type`) and no whitespace or control character.
 */
export function keyPatternProblem(source: string): string | undefined {
  if (!source.includes(':')) return 'key must be "namespace:event_type" or a glob over it such as "local:disk.*" (no ":" found)';
  if (BAD_KEY_CHARS.test(source)) return 'key must not contain whitespace or control characters';
  return undefined;
}

/** True when `source` has a glob metacharacter that takes effect (`*`, `?`, or a closed `[...]`). */
export function isGlobKey(source: string): boolean {
  return tokenize(source).some((t) => t.kind !== 'lit');
}

/**
 * Compile a handler key.
 *
 * @param source - the key as written, e.g. `local:disk.full` or `local:disk.*`
 * @param at - where the key is, for problems (its path is the key's own path, e.g. `"bad key"`)
 * @throws {ConfigError} when {@link keyPatternProblem} finds a problem
 */
export function compileKeyPattern(source: string, at: RuleSource = { path: JSON.stringify(source) }): KeyPattern {
  const problem = keyPatternProblem(source);
  if (problem !== undefined) {
    const list = new ProblemList(at);
    list.add(at.path, problem);
    list.throwIfAny();
  }
  return fromTokens(source, tokenize(source));
}

function fromTokens(source: string, tokens: readonly Token[]): KeyPattern {
  let p = 0;
  while (p < tokens.length && tokens[p]!.kind === 'lit') p++;
  const exact = p === tokens.length;
  let s = tokens.length;
  while (s > 0 && tokens[s - 1]!.kind === 'lit') s--;
  const literalPrefix = literalText(tokens, 0, p);
  const literalSuffix = exact ? source : literalText(tokens, s, tokens.length);
  const colon = literalPrefix.indexOf(':');
  const namespace = colon >= 0 ? literalPrefix.slice(0, colon) : undefined;
  return { source, exact, literalPrefix, literalSuffix, namespace, test: matcherFor(source, tokens, exact) };
}

function literalText(tokens: readonly Token[], from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) out += String.fromCodePoint((tokens[i] as { cp: number }).cp);
  return out;
}

function matcherFor(source: string, tokens: readonly Token[], exact: boolean): (key: string) => boolean {
  if (exact) return (key) => key === source;
  // Only literals and stars: literal segments found in order, with native string search.
  if (tokens.every((t) => t.kind === 'lit' || t.kind === 'star')) {
    const segments: string[] = [];
    let seg = '';
    for (const t of tokens) {
      if (t.kind === 'lit') seg += String.fromCodePoint(t.cp);
      else {
        segments.push(seg);
        seg = '';
      }
    }
    segments.push(seg);
    return starMatcher(segments);
  }
  return (key) => matchTokens(tokens, key);
}

/**
 * Single-character tokens and stars: advance greedily, and on a mismatch let the last star
 * absorb one more character. Correct because every other token matches exactly one
 * character; at most O(key × tokens) steps.
 */
function matchTokens(tokens: readonly Token[], key: string): boolean {
  const chars = codePoints(key);
  const n = chars.length;
  const m = tokens.length;
  let ti = 0;
  let ci = 0;
  let starTi = -1;
  let starCi = 0;
  while (ci < n) {
    const t = tokens[ti];
    if (t !== undefined && t.kind === 'star') {
      starTi = ti++;
      starCi = ci;
      continue;
    }
    if (t !== undefined && matchesOne(t, chars[ci]!)) {
      ti++;
      ci++;
      continue;
    }
    if (starTi < 0) return false;
    ti = starTi + 1;
    ci = ++starCi;
  }
  while (ti < m && tokens[ti]!.kind === 'star') ti++;
  return ti === m;
}

function matchesOne(t: Exclude<Token, { kind: 'star' }>, cp: number): boolean {
  switch (t.kind) {
    case 'lit':
      return t.cp === cp;
    case 'any':
      return true;
    case 'class': {
      let inside = false;
      const r = t.ranges;
      for (let i = 0; i < r.length; i += 2) {
        if (cp >= r[i]! && cp <= r[i + 1]!) {
          inside = true;
          break;
        }
      }
      return inside !== t.negate;
    }
  }
}

function codePoints(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) out.push(ch.codePointAt(0)!);
  return out;
}

/** Split a pattern into tokens, with fnmatch's rules for `[...]` (see the file comment). */
function tokenize(source: string): Token[] {
  const cps = codePoints(source);
  const n = cps.length;
  const tokens: Token[] = [];
  const STAR = 0x2a;
  const QUESTION = 0x3f;
  const OPEN = 0x5b;
  const CLOSE = 0x5d;
  const BANG = 0x21;
  const DASH = 0x2d;
  let i = 0;
  while (i < n) {
    const c = cps[i++]!;
    if (c === STAR) {
      // Consecutive stars are one star.
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === QUESTION) {
      tokens.push({ kind: 'any' });
    } else if (c === OPEN) {
      let j = i;
      if (j < n && cps[j] === BANG) j++;
      if (j < n && cps[j] === CLOSE) j++;
      while (j < n && cps[j] !== CLOSE) j++;
      if (j >= n) {
        tokens.push({ kind: 'lit', cp: OPEN });
        continue;
      }
      let k = i;
      const negate = cps[k] === BANG;
      if (negate) k++;
      const ranges: number[] = [];
      // Members: `x-y` is a range when a `-` stands between two members; else `x` alone.
      while (k < j) {
        const lo = cps[k]!;
        if (k + 2 < j && cps[k + 1] === DASH) {
          const hi = cps[k + 2]!;
          if (lo <= hi) ranges.push(lo, hi);
          k += 3;
        } else {
          ranges.push(lo, lo);
          k++;
        }
      }
      tokens.push({ kind: 'class', negate, ranges });
      i = j + 1;
    } else {
      tokens.push({ kind: 'lit', cp: c });
    }
  }
  return tokens;
}
