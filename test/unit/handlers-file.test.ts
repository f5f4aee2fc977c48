import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildHandlers, loadHandlersFile } from '../../src/config/handlers-file.js';
import { ConfigError } from '../../src/errors.js';
import { Matcher } from '../../src/sub/matcher.js';

const fixture = fileURLToPath(new URL('../fixtures/eventreactor/event-handlers.json', import.meta.url));

test('handlers file - EventReactor sample loads, its pyfunc entries included', () => {
  const { table, warnings } = loadHandlersFile(fixture);
  const specs = table.get('local:zmq.test')!;
  assert.deepEqual(
    specs.map((s) => [s.driver, s.command, s.exclusive]),
    [
      ['shell', 'echo', false],
      ['pyfunc', 'eventreactor.eventhandlersdebug.dumpEventPayload', false],
      ['pyfunc', 'testing.dumpEvent', false],
    ],
  );
  assert.deepEqual(warnings, []);
});

test('handlers file - output drivers: their own keys validated with key paths, other drivers warn about them', () => {
  const { table, warnings } = buildHandlers('/h.json', {
    'a:b': [
      {
        driver: 'webhook',
        handler: 'https://example.test/hook/{{env.HOOK}}',
        headers: { Authorization: 'Bearer {{env.TOKEN}}' },
        body: { text: '{{event.event_type}}' },
      },
      { driver: 'amqp', handler: 'alerts', routing_key: 'x.{{event.namespace}}' },
      { driver: 'shell', handler: 'echo', headers: {} },
    ],
  });
  const [webhook, amqp] = table.get('a:b')!;
  assert.deepEqual(webhook!.options, { method: 'POST', headers: { Authorization: 'Bearer {{env.TOKEN}}' }, body: { text: '{{event.event_type}}' } });
  assert.equal(amqp!.options!['url'], '{{env.AMQP_URL}}');
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['a:b[2].headers'],
  );
  try {
    buildHandlers('/h.json', {
      'a:b': [
        { driver: 'webhook', handler: 'ftp://x' },
        { driver: 'webhook', handler: 'https://x', headers: { 'X-A': '{{secret.A}}' } },
        { driver: 'amqp', handler: 'ex', persistent: 'yes' },
        { driver: 'pyfunc', handler: 'no-dots' },
      ],
    });
    assert.fail('expected ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.problems.map((p) => p.path),
      ['a:b[0].handler', 'a:b[1].headers.X-A', 'a:b[2].persistent', 'a:b[3].handler'],
    );
  }
});

test('handlers file - all mistakes are reported at once with key paths', () => {
  try {
    buildHandlers('/h.json', {
      'no-colon': [{ driver: 'shell', handler: 'x' }],
      'a:b': [
        { driver: 'perl', handler: 'x' },
        { driver: 'tsfunc', handler: 'nodot' },
        { driver: 'shell', handler: '   ' },
      ],
    });
    assert.fail('expected ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.problems.map((p) => p.path),
      ['"no-colon"', 'a:b[0].driver', 'a:b[1].handler', 'a:b[2].handler'],
    );
    assert.ok(err.problems.every((p) => p.file === '/h.json'));
  }
});

test('handlers file - schema errors name the entry', () => {
  assert.throws(
    () => buildHandlers('/h.json', { 'a:b': [{ driver: 'shell' }] }),
    (err: unknown) => err instanceof ConfigError && err.problems[0]!.path === 'a:b[0].handler',
  );
  assert.throws(
    () => buildHandlers('/h.json', { 'a:b': { driver: 'shell', handler: 'x' } }),
    (err: unknown) => err instanceof ConfigError && err.problems[0]!.path === 'a:b',
  );
});

test('handlers file - timeout is seconds, ids are stable per driver+handler', () => {
  const { table } = buildHandlers('/h.json', { 'a:b': [{ driver: 'shell', handler: 'x.sh', timeout: 2.5, exclusive: true }] });
  const again = buildHandlers('/h.json', { 'c:d': [{ driver: 'tsfunc', handler: 'm.f' }], 'a:b': [{ driver: 'shell', handler: 'x.sh' }] });
  const spec = table.get('a:b')![0]!;
  assert.equal(spec.timeoutMs, 2500);
  assert.equal(spec.exclusive, true);
  assert.equal(spec.id, again.table.get('a:b')![0]!.id);
  assert.match(spec.id, /^[0-9a-f]{16}$/);
});

test('matcher - exact namespace:event_type keys', () => {
  const { table } = buildHandlers('/h.json', { 'local:disk.full': [{ driver: 'shell', handler: 'x' }], 'ops:empty': [] });
  const m = new Matcher(table);
  assert.equal(m.match('local:disk.full').length, 1);
  assert.equal(m.match('local:disk').length, 0);
  assert.equal(m.match('other:disk.full').length, 0);
  assert.equal(m.size, 1);
});
