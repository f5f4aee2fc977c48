import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PyfuncDriver } from '../../src/handlers/pyfunc-driver.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { runContext, sampleEvent } from '../helpers/events.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/eventreactor/event-handlers/openstack_events.py', import.meta.url));

const drivers: PyfuncDriver[] = [];
after(() => Promise.all(drivers.map((d) => d.close())));

function setup(files: Record<string, string>, outputLimitBytes = 65_536): { driver: PyfuncDriver; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'er-pyfunc-'));
  copyFileSync(FIXTURE, join(dir, 'openstack_events.py'));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  const driver = new PyfuncDriver({ handlersDir: dir, outputLimitBytes, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
  drivers.push(driver);
  return { driver, dir };
}

const spec = (command: string): HandlerSpec => ({ id: 'h', key: 'local:zmq.test', driver: 'pyfunc', command, exclusive: false });
const notification = sampleEvent({
  namespace: 'openstack',
  event_type: 'compute.instance.create.end',
  publisher_id: 'compute.host-1',
  payload: { instance_id: 'i-1', state: 'active' },
});

test('pyfunc driver - an EventReactor-style handler runs unchanged: has_key, logging, its return value becomes data', async () => {
  const { driver } = setup({});
  const out = await driver.run(spec('openstack_events.summarize'), notification, runContext());
  assert.equal(out.status, 'ok', out.error);
  assert.equal(out.code, 0);
  assert.deepEqual(out.data, { event_type: 'compute.instance.create.end', namespace: 'openstack', publisher_id: 'compute.host-1', instance_id: 'i-1' });
  assert.match(out.stderr ?? '', /INFO openstack_events: Payload ==> \{'instance_id': 'i-1', 'state': 'active'\}/);
});

test('pyfunc driver - an exception is an error result with its traceback in stderr; the interpreter goes on', async () => {
  const { driver } = setup({});
  const out = await driver.run(spec('openstack_events.fail'), notification, runContext());
  assert.equal(out.status, 'error');
  assert.equal(out.errorCode, 'ERR_HANDLER');
  assert.equal(out.error, 'ValueError: cannot handle compute.instance.create.end');
  assert.match(out.stderr ?? '', /Traceback \(most recent call last\):[\s\S]*openstack_events\.py", line \d+, in fail/);
  const again = await driver.run(spec('openstack_events.summarize'), notification, runContext());
  assert.equal(again.status, 'ok');
});

test('pyfunc driver - the run environment is os.environ; prints are kept; packages in folders; non-JSON values said so', async () => {
  const { driver } = setup({
    'ops/__init__.py': '',
    'ops/env.py':
      'import os\ndef show(event):\n    print("hello from", event["id"])\n    return {"token": os.environ.get("TOKEN"), "home": os.environ.get("EVENT_ID")}\ndef odd(event):\n    return {1, 2}\n',
  });
  const out = await driver.run(spec('ops.env.show'), sampleEvent(), runContext({ env: { TOKEN: 's3', EVENT_ID: 'evt-1' } }));
  assert.equal(out.status, 'ok', out.error);
  assert.deepEqual(out.data, { token: 's3', home: 'evt-1' });
  assert.match(out.stderr ?? '', /hello from evt-1/);
  const second = await driver.run(spec('ops.env.show'), sampleEvent(), runContext({ env: {} }));
  assert.deepEqual(second.data, { token: null, home: null });
  const odd = await driver.run(spec('ops.env.odd'), sampleEvent(), runContext());
  assert.equal(odd.status, 'ok');
  assert.match(String(odd.data), /not JSON-serialisable/);
});

test('pyfunc driver - a call past its timeout ends the interpreter; the next call gets a new one', async () => {
  const { driver } = setup({ 'slow.py': 'import time, os\ndef nap(event):\n    time.sleep(30)\ndef pid(event):\n    return os.getpid()\n' });
  const first = await driver.run(spec('slow.pid'), sampleEvent(), runContext());
  const started = Date.now();
  const out = await driver.run(spec('slow.nap'), sampleEvent(), runContext({ timeoutMs: 300 }));
  assert.equal(out.status, 'timeout');
  assert.equal(out.errorCode, 'ERR_HANDLER_TIMEOUT');
  assert.ok(Date.now() - started < 5000);
  const next = await driver.run(spec('slow.pid'), sampleEvent(), runContext());
  assert.equal(next.status, 'ok');
  assert.notEqual(next.data, first.data, 'a new interpreter');
});

test('pyfunc driver - an interpreter that dies mid-call is an error for that call only, and is restarted', async () => {
  const { driver } = setup({ 'die.py': 'import os\ndef now(event):\n    os._exit(3)\ndef fine(event):\n    return "ok"\n' });
  const out = await driver.run(spec('die.now'), sampleEvent(), runContext());
  assert.equal(out.status, 'error');
  assert.match(out.error ?? '', /Python interpreter exited \(code 3\)/);
  assert.equal((await driver.run(spec('die.fine'), sampleEvent(), runContext())).data, 'ok');
});

test('pyfunc driver - calls run one at a time, in order', async () => {
  const { driver } = setup({
    'order.py': 'import time\nseen = []\ndef add(event):\n    seen.append(event["id"])\n    time.sleep(0.05)\n    return list(seen)\n',
  });
  const outs = await Promise.all(['a', 'b', 'c'].map((id) => driver.run(spec('order.add'), sampleEvent({ id }), runContext())));
  assert.deepEqual(
    outs.map((o) => o.data),
    [['a'], ['a', 'b'], ['a', 'b', 'c']],
  );
});

test('pyfunc driver - missing modules, functions, and names that import a standard module are refused', async () => {
  const { driver, dir } = setup({ 'json.py': 'def dumps(event):\n    return 1\n' });
  const missing = await driver.run(spec('eventreactor.eventhandlersdebug.dumpEventPayload'), sampleEvent(), runContext());
  assert.equal(missing.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(missing.error ?? '', /not found in .*eventreactor\/eventhandlersdebug\.py/);
  const noFn = await driver.run(spec('openstack_events.nothere'), sampleEvent(), runContext());
  assert.equal(noFn.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(noFn.error ?? '', /has no function nothere/);
  const shadow = await driver.run(spec('json.dumps'), sampleEvent(), runContext());
  assert.equal(shadow.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(shadow.error ?? '', /rename the handler module/);
  const escape = await driver.run(spec('os.system'), sampleEvent(), runContext());
  assert.equal(escape.errorCode, 'ERR_HANDLER_REFUSED');
  assert.ok(dir);
});

test('pyfunc driver - a changed module is reloaded', async () => {
  const { driver, dir } = setup({ 'v.py': 'def get(event):\n    return 1\n' });
  assert.equal((await driver.run(spec('v.get'), sampleEvent(), runContext())).data, 1);
  writeFileSync(join(dir, 'v.py'), 'def get(event):\n    return 2\n');
  const later = new Date(Date.now() + 5000);
  utimesSync(join(dir, 'v.py'), later, later);
  await new Promise((r) => setTimeout(r, 1100)); // the handler path cache keeps an answer 1 s
  assert.equal((await driver.run(spec('v.get'), sampleEvent(), runContext())).data, 2);
});

test('pyfunc driver - a missing interpreter is a refusal naming worker.python', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'er-pyfunc-'));
  copyFileSync(FIXTURE, join(dir, 'openstack_events.py'));
  const driver = new PyfuncDriver({ handlersDir: dir, outputLimitBytes: 1000, python: 'no-such-python3' });
  drivers.push(driver);
  const out = await driver.run(spec('openstack_events.summarize'), notification, runContext());
  assert.equal(out.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(out.error ?? '', /worker\.python/);
});
