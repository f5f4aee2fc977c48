import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSettings } from '../../src/config/load.js';
import { checkConfig } from '../../src/config/check-config.js';
import { ConfigError } from '../../src/errors.js';

const build = (feeders: unknown[], extra: Record<string, unknown> = {}) => buildSettings('/etc/er/config.json', { feeds: { feeders }, ...extra }, {}, {});

function problemsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

const zmq = { handler: 'ZMQInput', config: { uri: 'tcp://*:55055' } };

test('inputs config - each input validated with its schema, defaults applied, names and namespaces set', () => {
  const { settings, warnings } = build([
    zmq,
    { handler: 'AMQPInput', namespace: 'cloud', config: { url: 'amqp://u:p@h:5672', routing_key: 'notifications.info', queue_name: 'q', bindings: ['nova'] } },
    {
      handler: 'HTTPInput',
      config: { listen: '127.0.0.1:8088', token_file: 'secrets/token', hooks: { github: { hmac_secret_file: '/s/gh', event_type_header: 'X-GitHub-Event' } } },
    },
    { handler: 'MQTTInput', config: { url: 'mqtt://127.0.0.1:1883', topics: ['sensors/#'] } },
    {
      handler: 'TimerInput',
      config: {
        schedules: [
          { cron: '*/5 * * * *', event_type: 'cron.5m' },
          { every: 10, event_type: 'tick', payload: {} },
        ],
      },
    },
    { handler: 'TimerInput', name: 'nightly', config: { schedules: [{ cron: '0 0 2 * * *', timezone: 'Europe/Paris', event_type: 'nightly' }] } },
    { handler: 'BeaconInput', config: { load: { every: 5 }, disk: { every: 60 } } },
    { handler: 'SNMPInput', config: {} },
  ]);
  assert.deepEqual(
    settings.inputs.list.map((i) => [i.handler, i.name, i.namespace, i.at]),
    [
      ['AMQPInput', 'AMQPInput', 'cloud', 'feeds.feeders[1]'],
      ['HTTPInput', 'HTTPInput', 'local', 'feeds.feeders[2]'],
      ['MQTTInput', 'MQTTInput', 'local', 'feeds.feeders[3]'],
      ['TimerInput', 'TimerInput', 'local', 'feeds.feeders[4]'],
      ['TimerInput', 'nightly', 'local', 'feeds.feeders[5]'],
      ['BeaconInput', 'BeaconInput', 'local', 'feeds.feeders[6]'],
    ],
  );
  const [amqp, http, mqtt, , , beacon] = settings.inputs.list;
  assert.equal(amqp?.handler === 'AMQPInput' && amqp.config.prefetch, 32);
  assert.equal(http?.handler === 'HTTPInput' && http.config.token_file, '/etc/er/secrets/token');
  assert.deepEqual(http?.handler === 'HTTPInput' && http.config.address, { host: '127.0.0.1', port: 8088 });
  assert.equal(mqtt?.handler === 'MQTTInput' && mqtt.config.qos, 1);
  assert.match(mqtt?.handler === 'MQTTInput' ? mqtt.config.client_id : '', /^event-reactor-.+-MQTTInput$/);
  assert.deepEqual(beacon?.handler === 'BeaconInput' && beacon.config.disk?.paths, ['/']);
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['feeds.feeders[7].handler'],
  );
  assert.equal(settings.inputs.routerUri, 'tcp://127.0.0.1:55055');
  assert.equal(settings.http.inputs.port, 9473);
});

test('inputs config - every problem reported with its key path, unknown keys warned', () => {
  const problems = problemsOf(() =>
    build([
      zmq,
      { handler: 'AMQPInput', config: { url: 'http://x', routing_key: 'k', queue_name: 'q', bindings: [], prefetch: 0 } },
      { handler: 'HTTPInput', config: { listen: '0.0.0.0:8088', hooks: { 'bad name': {} } } },
      { handler: 'MQTTInput', config: { url: 'mqtt://h', topics: ['a'], qos: 3 } },
      {
        handler: 'TimerInput',
        config: { schedules: [{ event_type: 'a' }, { every: 5, cron: '* * * * *', event_type: 'b' }, { cron: 'nope', event_type: 'c' }] },
      },
      {
        handler: 'TimerInput',
        name: 'T2',
        config: {
          schedules: [
            { every: 5, event_type: 'a' },
            { cron: '* * * * *', event_type: 'a', timezone: 'Mars/Olympus' },
          ],
        },
      },
      { handler: 'BeaconInput', config: {} },
    ]),
  );
  const paths = problems.map((p) => p.path);
  assert.deepEqual(paths, [
    'feeds.feeders[1].config.url',
    'feeds.feeders[1].config.bindings',
    'feeds.feeders[1].config.prefetch',
    'feeds.feeders[2].config.hooks.bad name',
    'feeds.feeders[3].config.qos',
    'feeds.feeders[4].config.schedules[0]',
    'feeds.feeders[4].config.schedules[1]',
    'feeds.feeders[4].config.schedules[2].cron',
    'feeds.feeders[5].config.schedules[1].timezone',
    'feeds.feeders[5].config.schedules[1].name',
    'feeds.feeders[6].config',
  ]);
  // Valid listen, no token on a non-loopback address: refused.
  const open = problemsOf(() => build([zmq, { handler: 'HTTPInput', config: { listen: '0.0.0.0:8088' } }]));
  assert.deepEqual(
    open.map((p) => p.path),
    ['feeds.feeders[1].config.token_file'],
  );
  assert.match(open[0]!.message, /reachable from other hosts/);
  const { warnings } = build([zmq, { handler: 'HTTPInput', config: { listen: 'localhost:0', hooks: { a: { event_typ: 'x' } } } }]);
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['feeds.feeders[1].config.hooks.a.event_typ'],
  );
});

test('inputs config - two inputs with one name are refused; a feeder namespace beside config.namespace must agree', () => {
  const t = { handler: 'TimerInput', name: 'x', config: { schedules: [{ every: 1, event_type: 'a' }] } };
  assert.deepEqual(
    problemsOf(() => build([zmq, t, t])).map((p) => p.path),
    ['feeds.feeders[2].name'],
  );
  const amqp = { handler: 'AMQPInput', namespace: 'a', config: { url: 'amqp://h', routing_key: 'k', queue_name: 'q', bindings: ['x'], namespace: 'b' } };
  assert.deepEqual(
    problemsOf(() => build([zmq, amqp])).map((p) => p.path),
    ['feeds.feeders[1].namespace'],
  );
});

test('inputs config - the ZMQInput feeder takes the entry namespace, as EventReactor sample writes it', () => {
  const { settings } = build([{ handler: 'ZMQInput', namespace: 'ops', config: { uri: 'tcp://*:55055' } }]);
  assert.equal(settings.router.rep[0]?.namespace, 'ops');
});

test('inputs config - check-config reports an input secret file others can read, with its key path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'er-check-'));
  writeFileSync(join(dir, 'token'), 'x\n', { mode: 0o644 });
  chmodSync(join(dir, 'token'), 0o644);
  writeFileSync(join(dir, 'event-handlers.json'), '{}');
  const feeders = [zmq, { handler: 'HTTPInput', config: { listen: '127.0.0.1:8088', token_file: 'token' } }];
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ feeds: { feeders } }));
  const report = checkConfig(join(dir, 'config.json'), undefined);
  assert.deepEqual(
    report.problems.map((p) => [p.file, p.path]),
    [[join(dir, 'token'), 'feeds.feeders[1].config.token_file']],
  );
  assert.match(report.problems[0]!.message, /chmod 600/);
});
