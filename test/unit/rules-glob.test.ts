import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { compileKeyPattern, isGlobKey, keyPatternProblem } from '../../src/rules/glob.js';
import { ConfigError } from '../../src/errors.js';

const cases = (JSON.parse(readFileSync(new URL('../fixtures/rules/fnmatch-cases.json', import.meta.url), 'utf8')) as { cases: [string, string, boolean][] })
  .cases;

/**
 * fnmatch written the plain way: a recursive walk over the pattern text (memoised), with
 * the bracket rules read off the pattern at each step. No regular expressions.
 */
function referenceFnmatch(pattern: string, key: string): boolean {
  const p = Array.from(pattern);
  const s = Array.from(key);
  const memo = new Map<number, boolean>();
  const at = (pi: number, si: number): boolean => {
    const id = pi * (s.length + 1) + si;
    const known = memo.get(id);
    if (known !== undefined) return known;
    const r = step(pi, si);
    memo.set(id, r);
    return r;
  };
  const step = (pi: number, si: number): boolean => {
    if (pi === p.length) return si === s.length;
    const c = p[pi]!;
    if (c === '*') {
      for (let k = si; k <= s.length; k++) if (at(pi + 1, k)) return true;
      return false;
    }
    if (si === s.length) return false;
    if (c === '?') return at(pi + 1, si + 1);
    if (c === '[') {
      let j = pi + 1;
      if (p[j] === '!') j++;
      if (p[j] === ']') j++;
      while (j < p.length && p[j] !== ']') j++;
      if (j < p.length) {
        let k = pi + 1;
        const negate = p[k] === '!';
        if (negate) k++;
        let member = false;
        const ch = s[si]!.codePointAt(0)!;
        while (k < j) {
          if (k + 2 < j && p[k + 1] === '-') {
            if (ch >= p[k]!.codePointAt(0)! && ch <= p[k + 2]!.codePointAt(0)!) member = true;
            k += 3;
          } else {
            if (s[si] === p[k]) member = true;
            k++;
          }
        }
        return member !== negate && at(j + 1, si + 1);
      }
    }
    return c === s[si] && at(pi + 1, si + 1);
  };
  return at(0, 0);
}

test('glob - agrees with CPython fnmatch.fnmatchcase on recorded cases', () => {
  assert.ok(cases.length > 400);
  for (const [pattern, key, expected] of cases) {
    assert.equal(compileKeyPattern(pattern).test(key), expected, `${JSON.stringify(pattern)} vs ${JSON.stringify(key)}`);
    assert.equal(referenceFnmatch(pattern, key), expected, `reference: ${JSON.stringify(pattern)} vs ${JSON.stringify(key)}`);
  }
});

test('glob - star, question mark and classes over whole keys, ":" and "." included', () => {
  const m = (p: string, k: string): boolean => compileKeyPattern(p).test(k);
  assert.ok(m('local:disk.*', 'local:disk.full'));
  assert.ok(m('local:disk.*', 'local:disk.'));
  assert.ok(!m('local:disk.*', 'local:disk'));
  assert.ok(m('*:disk.full', 'web:disk.full'));
  assert.ok(m('*:*', 'local:disk.full'));
  assert.ok(m('local:*', 'local:a:b.c'), '* crosses ":" and "."');
  assert.ok(m('l*l:*l', 'local:x:local:disk.full'), '* crosses ":"');
  assert.ok(m('local:disk.?', 'local:disk.x'));
  assert.ok(!m('local:disk.?', 'local:disk.xy'));
  assert.ok(m('local:disk[0-9]', 'local:disk7'));
  assert.ok(!m('local:disk[!0-9]', 'local:disk7'));
  assert.ok(m('local:disk[!0-9]', 'local:diskx'));
  assert.ok(m('local:a[]]', 'local:a]'), '] first in a class is a member');
  assert.ok(m('local:a[', 'local:a['), 'an unclosed [ is literal');
  assert.ok(m('local:[*]', 'local:*'), '[*] is a literal star');
  assert.ok(!m('local:[*]', 'local:x'));
  assert.ok(!m('Local:x', 'local:x'), 'case-sensitive');
  assert.ok(m('local:?', 'local:é'), '? is one code point');
  assert.ok(m('local:?', 'local:😀'), '? is one code point, astral too');
  assert.ok(m('a:*b*c*d', 'a:xxbyycd'));
  assert.ok(!m('a:*b*c*d', 'a:xxcyybd'));
});

test('glob - exact keys are recognised as exact, with prefix, suffix and namespace', () => {
  const exact = compileKeyPattern('local:disk.full');
  assert.equal(exact.exact, true);
  assert.equal(exact.literalPrefix, 'local:disk.full');
  assert.equal(exact.namespace, 'local');
  assert.equal(isGlobKey('local:disk.full'), false);
  assert.equal(isGlobKey('local:disk['), false, 'no closing ]: literal');
  const g = compileKeyPattern('local:disk.*.done');
  assert.equal(g.exact, false);
  assert.equal(g.literalPrefix, 'local:disk.');
  assert.equal(g.literalSuffix, '.done');
  assert.equal(g.namespace, 'local');
  assert.equal(compileKeyPattern('lo*:x').namespace, undefined);
  assert.equal(compileKeyPattern('*:x').literalPrefix, '');
});

test('glob - a key without ":" or with whitespace is a config problem at its path', () => {
  assert.match(keyPatternProblem('disk.*')!, /namespace:event_type/);
  assert.match(keyPatternProblem('a: b')!, /whitespace/);
  assert.equal(keyPatternProblem('a:b'), undefined);
  assert.throws(
    () => compileKeyPattern('disk.*', { file: '/etc/h.json', path: '"disk.*"' }),
    (err: unknown) => err instanceof ConfigError && err.problems[0]!.file === '/etc/h.json' && err.problems[0]!.path === '"disk.*"',
  );
});

test('glob - property: the compiled matcher agrees with the reference on random patterns and keys', () => {
  const chars = fc.constantFrom('a', 'b', ':', '.', '-', '*', '?', '[', ']', '!', '\\', 'é');
  const text = (max: number) => fc.array(chars, { maxLength: max }).map((cs) => cs.join(''));
  fc.assert(
    fc.property(text(10), fc.array(text(12), { minLength: 1, maxLength: 8 }), (body, keys) => {
      const pattern = `:${body}`;
      const compiled = compileKeyPattern(pattern);
      for (const k of [...keys.map((k) => `:${k}`), pattern]) assert.equal(compiled.test(k), referenceFnmatch(pattern, k), `${pattern} vs ${k}`);
    }),
    { numRuns: 3000 },
  );
});

test('glob - many stars on a long key stay fast (no backtracking blow-up)', () => {
  const p = compileKeyPattern(`a:${'*a'.repeat(30)}*b`);
  const key = `a:${'a'.repeat(500)}`;
  const started = performance.now();
  assert.equal(p.test(key), false);
  assert.ok(performance.now() - started < 2000, 'sanity bound only');
});
