import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyIndex } from '../../src/rules/key-index.js';
import { compileKeyPattern } from '../../src/rules/glob.js';
import { PairLruCache } from '../../src/rules/pair-lru-cache.js';
import { ConfigError } from '../../src/errors.js';

interface Entry {
  name: string;
}
const e = (name: string): Entry => ({ name });
const names = (xs: readonly Entry[]): string[] => xs.map((x) => x.name);

test('key index - exact keys and globs contribute their entries in table order', () => {
  const index = new KeyIndex<Entry>([
    ['local:disk.*', [e('glob1')]],
    ['local:disk.full', [e('exact1'), e('exact2')]],
    ['*:disk.full', [e('anyns')]],
    ['web:*', [e('web')]],
    ['local:disk.fu??', [e('q')]],
  ]);
  assert.deepEqual(names(index.match('local:disk.full')), ['glob1', 'exact1', 'exact2', 'anyns', 'q']);
  assert.deepEqual(names(index.match('web:disk.full')), ['anyns', 'web']);
  assert.deepEqual(names(index.match('other:x')), []);
  assert.equal(index.size, 5);
  assert.deepEqual(
    index.matchingKeys('web:disk.full').map((m) => m.pattern.source),
    ['*:disk.full', 'web:*'],
  );
});

test('key index - an entry listed under several matching keys appears once', () => {
  const shared = e('shared');
  const index = new KeyIndex<Entry>([
    ['local:*', [shared, e('a')]],
    ['local:x', [e('b'), shared]],
    ['*:x', [shared, shared]],
  ]);
  assert.deepEqual(names(index.match('local:x')), ['shared', 'a', 'b']);
});

test('key index - results are cached per event key, frozen, and the same array on repeat', () => {
  const index = new KeyIndex<Entry>([['a:*', [e('x')]]]);
  const first = index.match('a:b');
  assert.ok(Object.isFrozen(first));
  assert.equal(index.match('a:b'), first);
  index.clearCache();
  assert.notEqual(index.match('a:b'), first);
  assert.deepEqual(names(index.match('a:b')), ['x']);
});

test('key index - every bad key is reported at once', () => {
  assert.throws(
    () =>
      new KeyIndex([
        ['nocolon', []],
        ['ok:x', []],
        ['bad key:x', []],
      ]),
    (err: unknown) => err instanceof ConfigError && err.problems.length === 2,
  );
});

test('key index - takes compiled patterns too', () => {
  const index = new KeyIndex([[compileKeyPattern('a:b*'), [1, 2]]]);
  assert.deepEqual(index.match('a:bc'), [1, 2]);
});

test('key index - matchEvent gives what match gives, from the namespace and event type', () => {
  const index = new KeyIndex<Entry>([
    ['a:*', [e('x')]],
    ['a:b.c', [e('y')]],
  ]);
  assert.deepEqual(names(index.matchEvent('a', 'b.c')), ['x', 'y']);
  assert.equal(index.matchEvent('a', 'b.c'), index.match('a:b.c'));
  assert.deepEqual(names(index.match('nocolon')), []);
});

test('key index - the cache is bounded: a flood of distinct keys keeps results right', () => {
  const index = new KeyIndex<Entry>([['a:*', [e('x')]]], { cacheSize: 100 });
  for (let i = 0; i < 10_000; i++) index.match(`a:${i}`);
  assert.deepEqual(names(index.match('a:1')), ['x']);
  assert.deepEqual(names(index.match('b:1')), []);
});

test('pair lru cache - keeps recently used entries, drops old ones, holds at most its size', () => {
  const lru = new PairLruCache<number>(4);
  lru.set('n', 'a', 1);
  lru.set('n', 'b', 2);
  lru.set('m', 'a', 3);
  assert.equal(lru.get('n', 'a'), 1);
  assert.equal(lru.get('m', 'a'), 3);
  lru.set('n', 'd', 4);
  lru.set('n', 'e', 5);
  assert.equal(lru.get('n', 'e'), 5);
  for (let i = 0; i < 1000; i++) lru.set('k', String(i), i);
  assert.equal(lru.get('n', 'e'), undefined, 'dropped by a thousand newer pairs');
  assert.ok(lru.size <= 4, `size ${lru.size}`);
  assert.equal(lru.get('k', '999'), 999);
  lru.set('k', '999', 7);
  assert.equal(lru.get('k', '999'), 7);
  lru.clear();
  assert.equal(lru.size, 0);
  assert.throws(() => new PairLruCache(1), RangeError);
});

test('key index - property: same entries as a linear scan of every key', () => {
  const chars = fc.constantFrom('a', 'b', 'c', '.', '*', '?', '[', ']', '!');
  const part = fc.array(chars, { minLength: 1, maxLength: 5 }).map((cs) => cs.join(''));
  const key = fc.tuple(part, part).map(([ns, t]) => `${ns}:${t}`);
  const plain = fc.constantFrom('a', 'b', 'c', '.');
  const eventPart = fc.array(plain, { minLength: 1, maxLength: 5 }).map((cs) => cs.join(''));
  const eventKey = fc.tuple(eventPart, eventPart).map(([ns, t]) => `${ns}:${t}`);
  fc.assert(
    fc.property(fc.array(key, { maxLength: 12 }), fc.array(eventKey, { minLength: 1, maxLength: 20 }), (keys, events) => {
      const pool = [e('p0'), e('p1'), e('p2')];
      const table = keys.map((k, i): [string, Entry[]] => [k, [e(`own${i}`), pool[i % 3]!]]);
      const index = new KeyIndex(table, { cacheSize: 4 });
      for (const ev of [...events, ...events]) {
        const expected: Entry[] = [];
        for (const [k, entries] of table) {
          if (!compileKeyPattern(k).test(ev)) continue;
          for (const x of entries) if (!expected.includes(x)) expected.push(x);
        }
        assert.deepEqual(index.match(ev), expected);
        const colon = ev.indexOf(':');
        assert.deepEqual(index.matchEvent(ev.slice(0, colon), ev.slice(colon + 1)), expected);
      }
    }),
    { numRuns: 500 },
  );
});
