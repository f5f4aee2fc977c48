import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTarget } from '../../src/rules/target.js';
import { buildHandlers } from '../../src/config/handlers-file.js';
import { ConfigError } from '../../src/errors.js';

const at = { file: '/etc/h.json', path: 'local:disk.*[0].target' };
const event = { id: '01J', namespace: 'local', event_type: 'disk.full', payload: { host: 'web-01', n: 3, bad: 'a b', every: 'all' } };

function problem(target: string): string {
  try {
    compileTarget(target, at);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems[0]!.path, at.path);
    return err.problems[0]!.message;
  }
  assert.fail(`expected a problem for ${target}`);
}

test('actor target - a name, a template and "all" resolve per event', () => {
  assert.deepEqual(compileTarget('web-01', at).resolve(event), { ok: true, all: false, actor: 'web-01' });
  assert.deepEqual(compileTarget('{{payload.host}}', at).resolve(event), { ok: true, all: false, actor: 'web-01' });
  assert.deepEqual(compileTarget('db-{{ payload.n }}', at).resolve(event), { ok: true, all: false, actor: 'db-3' });
  assert.deepEqual(compileTarget('all', at).resolve(event), { ok: true, all: true });
});

test('actor target - a path the event lacks, a value that is no name, or "all" from the event is refused naming why', () => {
  const missing = compileTarget('{{payload.nope}}', at).resolve(event);
  assert.ok(!missing.ok && /no value at \{\{payload\.nope\}\}/.test(missing.message));
  const bad = compileTarget('{{payload.bad}}', at).resolve(event);
  assert.ok(!bad.ok && /"a b", which is not an actor name/.test(bad.message));
  const every = compileTarget('{{payload.every}}', at).resolve(event);
  assert.ok(!every.ok && /only event-handlers.json may target every actor/.test(every.message));
});

test('actor target - malformed targets are refused with the key path', () => {
  assert.match(problem('web 01'), /not an actor name/);
  assert.match(problem('a:b'), /not an actor name/);
  assert.match(problem('x'.repeat(65)), /1-64/);
  assert.match(problem('{{payload.host'), /not closed/);
  assert.match(problem('{{1bad}}'), /not a path/);
});

test('actor target - event-handlers.json checks "target" with its key path and keeps it in the entry', () => {
  const ok = buildHandlers('/etc/h.json', { 'local:a': [{ driver: 'shell', handler: 'x.sh', target: '{{payload.host}}' }] });
  assert.equal(ok.table.get('local:a')![0]!.target, '{{payload.host}}');
  assert.ok(ok.rules.entries[0]!.target);
  // Two entries differing only in target are two handlers.
  const two = buildHandlers('/etc/h.json', {
    'local:a': [
      { driver: 'shell', handler: 'x.sh', target: 'h1' },
      { driver: 'shell', handler: 'x.sh', target: 'h2' },
    ],
  });
  assert.equal(new Set(two.table.get('local:a')!.map((s) => s.id)).size, 2);
  for (const [entry, message] of [
    [{ driver: 'shell', handler: 'x.sh', target: 'no spaces' }, /not an actor name/],
    [{ driver: 'shell', handler: 'x.sh', target: 'h1', exclusive: true }, /"target" does not go with "exclusive" or a queue policy/],
    [{ driver: 'shell', handler: 'x.sh', target: 'h1', concurrency: 2 }, /"target" does not go with "exclusive" or a queue policy/],
    [{ driver: 'shell', handler: 'x.sh', target: 'all', breaker: { failures: 2, within: 60, open_for: 60 } }, /actor's queue/],
    [{ driver: 'shell', handler: 'x.sh', target: 7 }, /string/],
  ] as const) {
    assert.throws(
      () => buildHandlers('/etc/h.json', { 'local:a': [entry] }),
      (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.path === 'local:a[0].target' && message.test(p.message)),
    );
  }
});
