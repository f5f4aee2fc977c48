import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildHandlers, loadHandlersFile } from '../../src/config/handlers-file.js';
import { ConfigError } from '../../src/errors.js';

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

test('rule table - exact namespace:event_type keys', () => {
  const { rules } = buildHandlers('/h.json', { 'local:disk.full': [{ driver: 'shell', handler: 'x' }], 'ops:empty': [] });
  assert.equal(rules.match('local', 'disk.full').length, 1);
  assert.equal(rules.match('local', 'disk').length, 0);
  assert.equal(rules.match('other', 'disk.full').length, 0);
  assert.equal(rules.keyCount, 1);
});

const RULES_FILE = {
  'local:zmq.test': [{ driver: 'shell', handler: 'log-event.sh' }],
  'local:disk.*': [
    {
      driver: 'shell',
      handler: 'cleanup.sh --mount {{payload.mount}}',
      when: { payload: { used: [{ numeric: ['>=', 90] }], mount: [{ prefix: '/var' }] } },
    },
  ],
  '*:load.*': [
    {
      driver: 'tsfunc',
      handler: 'scale.up',
      if: { register: 'load', agg: 'avg', op: '>', value: 4, min_samples: 3 },
      throttle: { once_per: 300, by: 'payload.host' },
    },
  ],
  registers: { load: { key: '*:load.*', value: 'payload.load1', window: 60, by: 'payload.host' } },
  correlations: {
    'deploy.done': { all: ['ci:deploy.started', 'ci:deploy.finished'], within: 600, by: 'payload.deploy_id', emit: 'ci:deploy.completed' },
  },
};

test('handlers file - the rules file of the docs loads: globs, when, templates, registers, if, throttle, correlations', () => {
  const { rules, table } = buildHandlers('/h.json', RULES_FILE);
  assert.deepEqual([...table.keys()], ['local:zmq.test', 'local:disk.*', '*:load.*']);
  assert.deepEqual(
    rules.match('local', 'disk.full').map((e) => e.spec.command),
    ['cleanup.sh --mount {{payload.mount}}'],
  );
  const disk = rules.match('local', 'disk.full')[0]!;
  assert.ok(disk.when && disk.template);
  assert.equal(disk.when.matches({ namespace: 'local', event_type: 'disk.full', payload: { used: 95, mount: '/var/log' } }), true);
  assert.equal(disk.when.matches({ namespace: 'local', event_type: 'disk.full', payload: { used: 50, mount: '/var/log' } }), false);
  const load = rules.match('web', 'load.avg')[0]!;
  assert.equal(load.if!.conditions[0]!.register.name, 'load');
  assert.equal(load.throttle!.oncePerS, 300);
  assert.equal(rules.correlations[0]!.name, 'deploy.done');
  assert.equal(rules.byRef('*:load.*', load.spec.id), load);
  assert.match(rules.hash, /^[0-9a-f]{16}$/);
  assert.deepEqual(rules.match('other', 'thing'), []);
});

test('handlers file - a malformed rule is a problem with its key path, all reported at once', () => {
  const bad = {
    'local:disk.*': [{ driver: 'shell', handler: 'x.sh {{payload.}}', when: { payload: { used: [{ numeric: ['>>', 1] }] } } }],
    'x:y': [{ driver: 'tsfunc', handler: 'a.b', if: { register: 'nope', op: '>', value: 1 }, throttle: { once_per: 0 } }],
    registers: { r: { key: 'nocolon', value: 'payload.v', window: 1 } },
    'bad key': [],
  };
  assert.throws(
    () => buildHandlers('/h.json', bad),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.problems.map((p) => p.path);
      for (const want of ['registers.r.key', 'local:disk.*[0].when.payload.used[0].numeric', 'x:y[0].if.register', '"bad key"']) {
        assert.ok(
          paths.some((p) => p.startsWith(want)),
          `${want} in ${paths.join(', ')}`,
        );
      }
      return true;
    },
  );
});
