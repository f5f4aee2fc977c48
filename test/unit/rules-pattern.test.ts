import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePattern } from '../../src/rules/pattern.js';
import { ConfigError } from '../../src/errors.js';

const at = { file: '/etc/event-reactor/event-handlers.json', path: 'local:disk.*[0].when' };
const matches = (pattern: unknown, event: unknown): boolean => compilePattern(pattern, at).matches(event);

function problemsOf(pattern: unknown): { path: string; message: string }[] {
  try {
    compilePattern(pattern, at);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    for (const p of err.problems) assert.equal(p.file, at.file);
    return err.problems.map(({ path, message }) => ({ path, message }));
  }
  assert.fail(`expected problems for ${JSON.stringify(pattern)}`);
}

const disk = {
  id: '01J',
  namespace: 'local',
  event_type: 'disk.full',
  timestamp: 1,
  trace_id: '01J',
  seq: 1,
  epoch: 1,
  payload: { mount: '/var', used: 93.5, host: 'db1', tags: ['prod', 'db'], ip: '10.0.0.33', ok: false, note: null },
};

test('pattern - plain values: strings, numbers compared numerically, booleans, null; any field of the event', () => {
  assert.ok(matches({ namespace: ['local'], event_type: ['disk.full', 'disk.warn'] }, disk));
  assert.ok(matches({ id: ['01J'] }, disk));
  assert.ok(matches({ payload: { used: [93.5] } }, disk));
  assert.ok(matches({ payload: { used: [9.35e1] } }, disk));
  assert.ok(!matches({ payload: { used: ['93.5'] } }, disk), 'a string never equals a number');
  assert.ok(!matches({ payload: { mount: [0] } }, { payload: { mount: '0' } }));
  assert.ok(matches({ payload: { ok: [false] } }, disk));
  assert.ok(!matches({ payload: { ok: ['false'] } }, disk));
  assert.ok(matches({ payload: { note: [null] } }, disk));
  assert.ok(!matches({ payload: { note: [''] } }, disk), 'null is not the empty string');
  assert.ok(matches({ payload: { e: [''] } }, { payload: { e: '' } }));
  assert.ok(!matches({ payload: { mount: ['/'] } }, disk));
  assert.ok(!matches({ payload: { missing: ['x'] } }, disk));
});

test('pattern - fields are ANDed, values in a list ORed', () => {
  assert.ok(matches({ namespace: ['local'], payload: { host: ['db1', 'db2'] } }, disk));
  assert.ok(!matches({ namespace: ['local'], payload: { host: ['db2'] } }, disk));
});

test('pattern - arrays in the event match when any element does; empty arrays have no value', () => {
  assert.ok(matches({ payload: { tags: ['db'] } }, disk));
  assert.ok(!matches({ payload: { tags: ['web'] } }, disk));
  assert.ok(matches({ a: ['x'] }, { a: [['y'], ['x']] }), 'arrays of arrays are flattened');
  assert.ok(!matches({ a: [{ exists: true }] }, { a: [] }));
  assert.ok(matches({ a: [{ exists: false }] }, { a: [] }));
});

test('pattern - array consistency: the fields of one pattern object come from one element (event-ruler README)', () => {
  const employees = {
    employees: [
      [
        { firstName: 'John', lastName: 'Doe', ids: [1234, 1000, 9999] },
        { firstName: 'Anna', lastName: 'Smith' },
      ],
      [{ firstName: 'Peter', lastName: 'Jones', ids: [] }],
    ],
  };
  // From event-ruler's RulerTest: matching rules, then non-matching ones.
  assert.ok(matches({ employees: { firstName: ['Anna'] } }, employees));
  assert.ok(matches({ employees: { firstName: ['John'], ids: [1000] } }, employees));
  assert.ok(matches({ employees: { firstName: ['Anna'], ids: [{ exists: false }] } }, employees));
  assert.ok(!matches({ employees: { firstName: ['Alice'] } }, employees));
  assert.ok(!matches({ employees: { firstName: ['Anna'], lastName: ['Jones'] } }, employees));
  assert.ok(!matches({ a: ['b'] }, employees));
  assert.ok(!matches({ employees: ['b'] }, employees));
  assert.ok(!matches({ employees: { firstName: ['Anna'], ids: [1000] } }, employees));
  assert.ok(!matches({ employees: { firstName: ['Anna'], ids: [{ exists: true }] } }, employees));
});

test("pattern - event-ruler's structured-matching cases", () => {
  const cases: [string, unknown, unknown, boolean][] = [
    ['objarray: same element', { d: { a: [{ exists: true }], b: [{ exists: true }] } }, { d: [{ a: 1, b: 2 }] }, true],
    ['objarray: split', { d: { a: [{ exists: true }], b: [{ exists: true }] } }, { d: [{ a: 1 }, { b: 2 }] }, false],
    ['objarray: 3 elem, last valid', { d: { a: [{ exists: true }], b: [{ exists: true }] } }, { d: [{ a: 1 }, { b: 2 }, { a: 3, b: 4 }] }, true],
    ['nested: inner split', { u: { t: { k: ['color'], v: ['blue'] } } }, { u: [{ t: [{ k: 'color' }, { v: 'blue' }] }] }, false],
    ['nested: inner same', { u: { t: { k: ['color'], v: ['blue'] } } }, { u: [{ t: [{ k: 'color', v: 'blue' }] }] }, true],
    ['nested: outer split', { d: { name: [{ exists: true }], info: { x: ['1'] } } }, { d: [{ name: 'alice' }, { info: { x: '1' } }] }, false],
    ['mixed: array+scalar', { users: { name: [{ exists: true }] }, version: ['1'] }, { users: [{ name: 'alice' }], version: '1' }, true],
    ['exists-false: absent', { d: { a: [{ exists: true }], b: [{ exists: false }] } }, { d: [{ a: 1 }] }, true],
    ['exists-false: present', { d: { a: [{ exists: true }], b: [{ exists: false }] } }, { d: [{ a: 1, b: 2 }] }, false],
    ['exists-false: other element', { d: { a: [{ exists: true }], b: [{ exists: false }] } }, { d: [{ a: 1, b: 2 }, { a: 3 }] }, true],
    ['exists-false alone: any element has it', { d: { b: [{ exists: false }] } }, { d: [{ b: 1 }, { c: 2 }] }, false],
    ['empty array', { d: { a: [{ exists: true }] } }, { d: [] }, false],
    [
      'numeric+exists array',
      { i: { p: [{ numeric: ['>', 0, '<', 100] }], n: [{ exists: true }] } },
      {
        i: [
          { n: 'w', p: 50 },
          { n: 'g', p: 200 },
        ],
      },
      true,
    ],
    [
      'anything-but array',
      { u: { s: [{ 'anything-but': 'banned' }], n: [{ exists: true }] } },
      {
        u: [
          { n: 'alice', s: 'banned' },
          { n: 'bob', s: 'active' },
        ],
      },
      true,
    ],
    [
      'primarray: anything-but in array',
      { d: { tags: [{ 'anything-but': 'banned' }], type: [{ exists: true }] } },
      { d: { tags: ['banned', 'ok'], type: 'x' } },
      true,
    ],
    ['primarray: empty', { d: { name: [{ exists: true }], type: [{ exists: true }] } }, { d: { name: [], type: 'x' } }, false],
    [
      'many emails, only last has name',
      { detail: { email: [{ exists: true }], name: [{ exists: true }] } },
      { detail: [{ email: 'a@x' }, { email: 'b@x' }, { email: 'e@x', name: 'eve' }] },
      true,
    ],
  ];
  for (const [name, rule, event, want] of cases) assert.equal(matches(rule, event), want, name);
});

test('pattern - exists works on leaves only: an object value is not a leaf, null is', () => {
  const e = { detail: { 'c-count': { c1: 100 }, n: null } };
  assert.ok(matches({ detail: { 'c-count': [{ exists: false }] } }, e));
  assert.ok(!matches({ detail: { 'c-count': [{ exists: true }] } }, e));
  assert.ok(matches({ detail: { n: [{ exists: true }] } }, e));
  assert.ok(matches({ nothing: { deeper: [{ exists: false }] } }, e), 'absent parents: absent leaf');
  assert.ok(matches({ a: [{ exists: false }, 'x'] }, { a: 'x' }));
  assert.ok(matches({ a: [{ exists: false }, 'x'] }, {}));
  assert.ok(!matches({ a: [{ exists: false }, 'x'] }, { a: 'y' }));
});

test('pattern - prefix, suffix, equals-ignore-case, exactly, wildcard on strings only', () => {
  const p = disk.payload;
  assert.ok(matches({ payload: { mount: [{ prefix: '/v' }] } }, disk));
  assert.ok(matches({ payload: { mount: [{ prefix: '' }] } }, disk));
  assert.ok(matches({ payload: { mount: [{ prefix: { 'equals-ignore-case': '/VA' } }] } }, disk));
  assert.ok(matches({ payload: { host: [{ suffix: '1' }] } }, disk));
  assert.ok(matches({ payload: { host: [{ suffix: { 'equals-ignore-case': 'B1' } }] } }, disk));
  assert.ok(matches({ payload: { host: [{ 'equals-ignore-case': 'DB1' }] } }, disk));
  assert.ok(!matches({ payload: { host: [{ 'equals-ignore-case': 'DB' }] } }, disk));
  assert.ok(matches({ payload: { host: [{ exactly: 'db1' }] } }, disk));
  assert.ok(!matches({ payload: { used: [{ prefix: '93' }] } }, disk), 'prefix never matches a number');
  assert.ok(matches({ payload: { mount: [{ wildcard: '/*r' }] } }, disk));
  assert.ok(matches({ a: [{ wildcard: 'a\\*b*' }] }, { a: 'a*bc' }));
  assert.ok(!matches({ a: [{ wildcard: 'a\\*b*' }] }, { a: 'axbc' }));
  assert.ok(matches({ a: [{ wildcard: 'a\\\\b' }] }, { a: 'a\\b' }));
  assert.ok(matches({ a: [{ wildcard: '*' }] }, { a: '' }));
  assert.ok(!matches({ a: [{ wildcard: '*' }] }, { a: 1 }));
  assert.equal(p.mount, '/var');
});

test('pattern - numeric: one comparison or a range, numbers only', () => {
  const m = (cmp: unknown[], v: unknown): boolean => matches({ v: [{ numeric: cmp }] }, { v });
  assert.ok(m(['>', 0, '<=', 5], 5));
  assert.ok(!m(['>', 0, '<=', 5], 0));
  assert.ok(m(['>=', 0, '<', 5], 0));
  assert.ok(!m(['>=', 0, '<', 5], 5));
  assert.ok(m(['=', 301.8], 3.018e2));
  assert.ok(m(['<', 10], -1e300));
  assert.ok(!m(['<', 10], '3'), 'a numeric string is not a number');
  assert.ok(m(['>', 0], [-1, 'x', 4]));
});

test('pattern - anything-but: excludes values of its own type, needs a value', () => {
  const m = (ab: unknown, v: unknown): boolean => matches({ v: [{ 'anything-but': ab }] }, v === undefined ? {} : { v });
  assert.ok(m('initializing', 'running'));
  assert.ok(!m('initializing', 'initializing'));
  assert.ok(!m('x', undefined), 'an absent field has no value to be anything but x');
  assert.ok(m([111, 222], '444'), 'numbers exclude numbers only (event-ruler RulerTest)');
  assert.ok(!m([111, 222], 111.0));
  assert.ok(m(444, 123));
  assert.ok(!m(444, 444));
  assert.ok(m('x', 5));
  assert.ok(m('x', null));
  assert.ok(!m(['a', 'b'], 'b'));
  assert.ok(m({ prefix: 'init' }, 'running'));
  assert.ok(!m({ prefix: ['init', 'err'] }, 'error'));
  assert.ok(m({ prefix: 'init' }, 5), 'string exclusions never exclude a number');
  assert.ok(!m({ suffix: '.png' }, 'a.png'));
  assert.ok(!m({ 'equals-ignore-case': ['Stopped', 'OverLoaded'] }, 'STOPPED'));
  assert.ok(m({ 'equals-ignore-case': 'Stopped' }, 'running'));
  assert.ok(!m({ wildcard: '*/lib/*' }, '/usr/lib/x'));
  assert.ok(m({ wildcard: ['*/lib/*', '*.jar'] }, '/usr/bin/x'));
  assert.ok(m('banned', ['banned', 'ok']), 'an array matches when one element is not excluded');
  assert.ok(!m('banned', ['banned']));
});

test('pattern - cidr: IPv4 and IPv6 blocks; an IP string value names its address', () => {
  assert.ok(matches({ payload: { ip: [{ cidr: '10.0.0.0/24' }] } }, disk));
  assert.ok(!matches({ payload: { ip: [{ cidr: '10.0.1.0/24' }] } }, disk));
  assert.ok(matches({ payload: { ip: [{ cidr: '10.0.0.33/32' }] } }, disk));
  assert.ok(matches({ payload: { ip: [{ cidr: '0.0.0.0/0' }] } }, disk));
  assert.ok(matches({ ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:DB8:0:0:1::5' }));
  assert.ok(!matches({ ip: [{ cidr: '2001:db8::/32' }] }, { ip: '2001:db9::1' }));
  assert.ok(!matches({ ip: [{ cidr: '10.0.0.0/8' }] }, { ip: '::ffff:a00:1' }), 'families do not mix');
  assert.ok(!matches({ ip: [{ cidr: '10.0.0.0/8' }] }, { ip: 'host.example' }));
  assert.ok(matches({ ip: ['::1'] }, { ip: '0:0:0:0:0:0:0:1' }), 'an IP in the pattern matches the same address however written');
  assert.ok(matches({ ip: ['10.0.0.1'] }, { ip: '10.0.0.1' }));
});

test('pattern - regex: RE2 syntax, finds a match anywhere in a string', () => {
  assert.ok(matches({ payload: { host: [{ regex: '^db[0-9]+$' }] } }, disk));
  assert.ok(matches({ payload: { host: [{ regex: 'b1' }] } }, disk));
  assert.ok(matches({ payload: { host: [{ regex: '(?i)^DB' }] } }, disk));
  assert.ok(!matches({ payload: { used: [{ regex: '9' }] } }, disk), 'numbers are not strings');
});

test('pattern - $or at any level', () => {
  const or = { namespace: ['local'], $or: [{ payload: { mount: ['/'] } }, { payload: { used: [{ numeric: ['>', 90] }] } }] };
  assert.ok(matches(or, disk));
  assert.ok(!matches(or, { ...disk, payload: { mount: '/var', used: 10 } }));
  const nested = { payload: { $or: [{ host: ['db2'] }, { tags: ['db'] }] } };
  assert.ok(matches(nested, disk));
  const inner = { payload: { $or: [{ host: ['db1'], mount: ['/'] }, { host: ['db9'] }] } };
  assert.ok(!matches(inner, disk));
  // A branch's fields join their siblings in one array element.
  const sib = { d: { a: [1] }, $or: [{ d: { b: [2] } }, { c: [3] }] };
  assert.ok(matches(sib, { d: [{ a: 1, b: 2 }] }));
  assert.ok(!matches(sib, { d: [{ a: 1 }, { b: 2 }] }));
});

test('pattern - fields are own properties only: __proto__, constructor and toString come from the event', () => {
  const ev = JSON.parse('{"__proto__": {"x": "y"}, "constructor": "c", "payload": {"toString": "t"}}') as unknown;
  const pat = JSON.parse('{"__proto__": {"x": ["y"]}, "constructor": ["c"], "payload": {"toString": ["t"]}}') as unknown;
  assert.ok(matches(pat, ev));
  assert.ok(!matches(pat, { payload: {} }));
  assert.ok(matches(JSON.parse('{"constructor": [{"exists": false}], "__proto__": [{"exists": false}]}'), {}));
  assert.ok(!matches({ constructor: [{ exists: true }] }, {}));
  assert.ok(!matches({ payload: { hasOwnProperty: [{ exists: true }] } }, { payload: {} }));
  assert.equal(({} as Record<string, unknown>)['x'], undefined, 'Object.prototype untouched');
});

test('pattern - every problem is reported with its key path under the caller prefix', () => {
  const problems = problemsOf({
    payload: {
      used: [{ numeric: ['<', 5, '>', 0] }],
      empty: [],
      bare: 3,
      re: [{ regex: '(a' }],
      op: [{ foo: 1 }],
      two: [{ prefix: 'a', suffix: 'b' }],
      wc: [{ wildcard: 'a**' }],
      cidr: [{ cidr: '10.0.0.0/33' }],
      ab: [{ 'anything-but': [1, 'a'] }],
      ex: [{ exists: 'yes' }],
      nested: [[1]],
    },
    $or: [{ a: ['x'] }],
  });
  const paths = problems.map((p) => p.path);
  assert.deepEqual(paths, [
    'local:disk.*[0].when.payload.used[0].numeric',
    'local:disk.*[0].when.payload.empty',
    'local:disk.*[0].when.payload.bare',
    'local:disk.*[0].when.payload.re[0].regex',
    'local:disk.*[0].when.payload.op[0].foo',
    'local:disk.*[0].when.payload.two[0]',
    'local:disk.*[0].when.payload.wc[0].wildcard',
    'local:disk.*[0].when.payload.cidr[0].cidr',
    'local:disk.*[0].when.payload.ab[0].anything-but',
    'local:disk.*[0].when.payload.ex[0].exists',
    'local:disk.*[0].when.payload.nested[0]',
    'local:disk.*[0].when.$or',
  ]);
  assert.match(problems[0]!.message, /lower bound/);
  assert.match(problems[3]!.message, /RE2/);
});

test('pattern - malformed shapes are problems: not an object, empty objects, reserved names in $or, bad bounds', () => {
  assert.match(problemsOf(['x'])[0]!.message, /object of fields/);
  assert.match(problemsOf({})[0]!.message, /empty object/);
  assert.match(problemsOf({ a: {} })[0]!.message, /empty object/);
  assert.equal(problemsOf({ $or: [{ prefix: ['x'] }, { b: ['y'] }] })[0]!.path, 'local:disk.*[0].when.$or[0].prefix');
  assert.match(problemsOf({ a: [{ numeric: ['>', 5, '<', 5] }] })[0]!.message, /less than/);
  assert.match(problemsOf({ a: [{ numeric: ['>', 'x'] }] })[0]!.message, /finite number/);
  assert.match(problemsOf({ a: [{ 'anything-but': { prefix: '' } }] })[0]!.message, /empty prefix/);
  assert.match(problemsOf({ a: [{ 'anything-but': true }] })[0]!.message, /string, a number/);
  assert.match(problemsOf({ a: ['x'], $or: [{ a: ['y'] }, { b: ['z'] }] })[0]!.message, /twice/);
  assert.match(problemsOf({ a: [{ prefix: { 'equals-ignore-case': 1 } }] })[0]!.message, /equals-ignore-case/);
});

test('pattern - explain names the first failing field with expected and actual values', () => {
  const c = compilePattern({ namespace: ['local'], payload: { mount: ['/'], used: [{ numeric: ['>', 90] }] } }, at);
  const x = c.explain(disk);
  assert.equal(x.matched, false);
  assert.ok(!x.matched);
  assert.deepEqual(x.mismatch, {
    path: 'payload.mount',
    patternPath: 'local:disk.*[0].when.payload.mount',
    expected: ['/'],
    actual: '/var',
    absent: false,
  });
  const missing = compilePattern({ payload: { inode: [{ numeric: ['>', 1] }] } }, at).explain(disk);
  assert.ok(!missing.matched);
  assert.equal(missing.mismatch.absent, true);
  assert.equal(missing.mismatch.path, 'payload.inode');
  assert.deepEqual(compilePattern({ payload: { host: ['db1'] } }, at).explain(disk), { matched: true });
});

test('pattern - explain picks the array element that came closest, with its index', () => {
  const c = compilePattern({ disks: { mount: ['/'], used: [{ numeric: ['>', 90] }] } }, at);
  const x = c.explain({
    disks: [
      { mount: '/boot', used: 99 },
      { mount: '/', used: 50 },
    ],
  });
  assert.ok(!x.matched);
  assert.equal(x.mismatch.path, 'disks[1].used');
  assert.equal(x.mismatch.actual, 50);
});

test('pattern - explain with $or lists one failure per alternative', () => {
  const c = compilePattern({ $or: [{ a: ['x'] }, { b: ['y'] }] }, at);
  const x = c.explain({ a: 'q', b: 'y2' });
  assert.ok(!x.matched);
  assert.deepEqual(
    x.alternatives.map((m) => m.path),
    ['a', 'b'],
  );
});
