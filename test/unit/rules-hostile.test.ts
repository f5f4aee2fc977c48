import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RE2JS } from 're2js';
import { compilePattern } from '../../src/rules/pattern.js';
import { MAX_PATTERN_DEPTH } from '../../src/rules/pattern-tree.js';
import { compileTemplate } from '../../src/rules/template.js';
import { ConfigError } from '../../src/errors.js';

const at = { path: 'k:x[0].when' };

test('hostile - regex is RE2 (linear time): (a+)+$ on 100 KB of "a" then "!" returns', { timeout: 30_000 }, () => {
  // The engine: RE2 refuses what only a backtracking engine can do.
  assert.throws(() => RE2JS.compile('(a)\\1'), /invalid escape|backreference|\\1/i);
  assert.throws(() => compilePattern({ s: [{ regex: 'a(?=b)' }] }, at), ConfigError);
  const c = compilePattern({ s: [{ regex: '(a+)+$' }, { regex: '^(a|aa)*$' }, { regex: '(x+x+)+y' }] }, at);
  const hostile = `${'a'.repeat(100_000)}!`;
  const started = performance.now();
  assert.equal(c.matches({ s: hostile }), false);
  assert.equal(c.matches({ s: 'aaa' }), true);
  assert.ok(performance.now() - started < 10_000, 'generous sanity bound; a backtracking engine takes ages here');
});

test('hostile - regex without a match on the catastrophic input completes', { timeout: 30_000 }, () => {
  const c = compilePattern({ s: [{ regex: '^(a+)+$' }] }, at);
  assert.equal(c.matches({ s: `${'a'.repeat(100_000)}!` }), false);
  const x = compilePattern({ s: [{ regex: '(x+x+)+y' }] }, at);
  assert.equal(x.matches({ s: 'x'.repeat(50_000) }), false);
});

test('hostile - deep nesting: events nested 100,000 arrays deep do not overflow the stack', () => {
  let deep: unknown = 'x';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const c = compilePattern({ a: ['x'] }, at);
  assert.equal(c.matches({ a: deep }), true);
  assert.equal(compilePattern({ a: [{ exists: false }] }, at).matches({ a: deep }), false);
  assert.equal(compilePattern({ a: { b: ['x'] } }, at).matches({ a: deep }), false);
});

test('hostile - deep nesting: a pattern nested past the limit is a problem, not a stack overflow', () => {
  let p: Record<string, unknown> = { leaf: ['x'] };
  for (let i = 0; i < 10_000; i++) p = { n: p };
  assert.throws(
    () => compilePattern(p, at),
    (err: unknown) => err instanceof ConfigError && /nested deeper than/.test(err.message),
  );
  let ok: Record<string, unknown> = { leaf: ['x'] };
  let ev: Record<string, unknown> = { leaf: 'x' };
  for (let i = 1; i < MAX_PATTERN_DEPTH; i++) {
    ok = { n: ok };
    ev = { n: ev };
  }
  assert.equal(compilePattern(ok, at).matches(ev), true);
});

test('hostile - huge arrays: 1,000,000 elements are scanned once', () => {
  const big = Array.from({ length: 1_000_000 }, (_, i) => i);
  assert.equal(compilePattern({ a: [{ numeric: ['<', 0] }] }, at).matches({ a: big }), false);
  assert.equal(compilePattern({ a: [999_999] }, at).matches({ a: big }), true);
  const objs = Array.from({ length: 200_000 }, (_, i) => ({ k: i, v: i % 2 === 0 ? 'even' : 'odd' }));
  assert.equal(compilePattern({ a: { k: [199_999], v: ['odd'] } }, at).matches({ a: objs }), true);
  assert.equal(compilePattern({ a: { k: [199_999], v: ['even'] } }, at).matches({ a: objs }), false);
});

test('hostile - $or combinations are capped instead of multiplying without end', () => {
  const or = { $or: [{ a: ['1'] }, { b: ['2'] }] };
  const p: Record<string, unknown> = {};
  for (let i = 0; i < 20; i++) p[`f${i}`] = or;
  assert.throws(
    () => compilePattern(p, at),
    (err: unknown) => err instanceof ConfigError && /alternatives/.test(err.message),
  );
});

test('hostile - __proto__ in a pattern and in an event never reaches Object.prototype', () => {
  const pattern = JSON.parse('{"__proto__": {"polluted": ["yes"]}}') as unknown;
  const c = compilePattern(pattern, at);
  assert.equal(c.matches(JSON.parse('{"__proto__": {"polluted": "yes"}}')), true);
  assert.equal(c.matches({}), false);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  const t = compileTemplate('echo {{payload.__proto__}} {{payload.constructor}}', { path: 'k:x[0].handler' });
  assert.deepEqual(t.render({ payload: JSON.parse('{"__proto__": "p", "constructor": "c"}') }), { ok: true, argv: ['echo', 'p', 'c'] });
  const r = t.render({ payload: {} });
  assert.ok(!r.ok);
  assert.equal(r.path, 'payload.__proto__');
});

test('hostile - explain on deeply nested arrays does not overflow the stack either', () => {
  let deep: unknown = 'y';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const x = compilePattern({ a: ['x'] }, at).explain({ a: deep });
  assert.equal(x.matched, false);
  const y = compilePattern({ a: { b: ['x'] } }, at).explain({ a: deep });
  assert.equal(y.matched, false);
  assert.equal(compilePattern({ a: [{ exists: false }] }, at).explain({ a: deep }).matched, false);
});
