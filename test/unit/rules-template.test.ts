import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileTemplate } from '../../src/rules/template.js';
import { lookup } from '../../src/rules/event-path.js';
import { splitArgv } from '../../src/handlers/argv.js';
import { ConfigError } from '../../src/errors.js';

const at = { file: '/etc/h.json', path: 'local:disk.*[0].handler' };
const event = {
  id: '01J',
  namespace: 'local',
  event_type: 'disk.full',
  payload: { mount: '/var/lib', used: 93.5, ok: true, note: null, tags: ['a', 'b'], disks: [{ dev: 'sda' }], empty: '' },
};

function problem(handler: string): string {
  try {
    compileTemplate(handler, at);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems[0]!.path, at.path);
    assert.equal(err.problems[0]!.file, at.file);
    return err.problems[0]!.message;
  }
  assert.fail(`expected a problem for ${handler}`);
}

test('template - placeholders are replaced inside their argv element', () => {
  const t = compileTemplate('notify.sh --mount={{payload.mount}} {{ id }} "on {{namespace}}:{{event_type}}" {{payload.disks[0].dev}}', at);
  assert.deepEqual(t.placeholders, ['payload.mount', 'id', 'namespace', 'event_type', 'payload.disks[0].dev']);
  assert.deepEqual(t.render(event), { ok: true, argv: ['notify.sh', '--mount=/var/lib', '01J', 'on local:disk.full', 'sda'] });
});

test('template - values: strings as they are, numbers, booleans and null as JSON text, objects and arrays as JSON', () => {
  const t = compileTemplate('x {{payload.used}} {{payload.ok}} {{payload.note}} {{payload.tags}} {{payload.disks[0]}} {{payload.empty}}', at);
  assert.deepEqual(t.render(event), { ok: true, argv: ['x', '93.5', 'true', 'null', '["a","b"]', '{"dev":"sda"}', ''] });
});

test('template - a missing path is a failure naming it, never an empty argument', () => {
  const t = compileTemplate('x --a {{payload.inode}} {{payload.tags[5]}}', at);
  assert.deepEqual(t.render(event), { ok: false, path: 'payload.inode', reason: 'missing', message: 'the event has no value at {{payload.inode}}' });
  const idx = compileTemplate('x {{payload.tags[5]}}', at).render(event);
  assert.ok(!idx.ok);
  assert.equal(idx.path, 'payload.tags[5]');
  const notArray = compileTemplate('x {{payload.mount[0]}}', at).render(event);
  assert.ok(!notArray.ok, 'an index applies to arrays only');
  const inherited = compileTemplate('x {{payload.toString}}', at).render(event);
  assert.ok(!inherited.ok, 'never a field of Object.prototype');
});

test('template - a NUL character in a value is refused, not passed on or cut', () => {
  const r = compileTemplate('x {{payload.s}}', at).render({ payload: { s: 'a\u0000b' } });
  assert.ok(!r.ok);
  assert.equal(r.reason, 'nul');
  assert.deepEqual(compileTemplate('x {{payload}}', at).render({ payload: { s: 'a\u0000b' } }), { ok: true, argv: ['x', '{"s":"a\\u0000b"}'] });
});

test('template - hostile values stay in their one argv element: spaces, quotes, ;, $(...), newlines', () => {
  const t = compileTemplate(`run.sh {{payload.v}} 'lit {{payload.v}}' --x="{{payload.v}}"`, at);
  const v = `a b'c"d; rm -rf / $(id) \`id\` | x\n& \\ {{id}}`;
  const r = t.render({ payload: { v } });
  assert.deepEqual(r, { ok: true, argv: ['run.sh', v, `lit ${v}`, `--x=${v}`] });
});

test('template - a placeholder is not allowed in the program word', () => {
  assert.match(problem('{{payload.cmd}} --x'), /program/);
  assert.match(problem('/usr/bin/{{payload.cmd}}'), /program/);
});

test('template - malformed placeholders and unsplittable strings are config problems', () => {
  assert.match(problem('x {{payload.mount'), /not closed/);
  assert.match(problem('x {{payload..mount}}'), /not a path/);
  assert.match(problem('x {{}}'), /not a path/);
  assert.match(problem('x {{payload[-1]}}'), /not a path/);
  assert.match(problem('x {{1abc}}'), /not a path/);
  assert.match(problem("x '{{id}}"), /unterminated single quote/);
  assert.match(problem('x {{id}} | y'), /shell operator/);
});

test('template - a handler without placeholders renders as splitArgv splits it', () => {
  const h = `notify.sh --to ops 'a b' "c \\"d\\""`;
  assert.deepEqual(compileTemplate(h, at).render({}), { ok: true, argv: splitArgv(h) });
});

test('template - lookup reads own fields and array indexes only', () => {
  assert.equal(lookup({ a: [{ b: 1 }] }, ['a', 0, 'b']), 1);
  assert.equal(lookup({ a: [] }, ['a', 0]), undefined);
  assert.equal(lookup({}, ['constructor']), undefined);
  assert.equal(lookup({ a: 1 }, ['a', 'b']), undefined);
});

test('template - property: whatever a value holds, it becomes exactly one argv element, unchanged', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      fc.pre(!a.includes('\u0000') && !b.includes('\u0000'));
      const t = compileTemplate('prog {{payload.a}} pre-{{payload.b}}-post {{payload.a}}{{payload.b}}', at);
      assert.deepEqual(t.render({ payload: { a, b } }), { ok: true, argv: ['prog', a, `pre-${b}-post`, a + b] });
    }),
    { numRuns: 1000 },
  );
});
