import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShellDriver } from '../../src/handlers/shell-driver.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { runContext, sampleEvent } from '../helpers/events.js';
import { HandlerEnvironment, baseEnvironment, eventEnvironment } from '../../src/handlers/handler-env.js';
import { runHandler } from '../../src/handlers/run-job.js';
import { TsfuncDriver } from '../../src/handlers/tsfunc-driver.js';

function setup(): { dir: string; driver: ShellDriver } {
  const dir = mkdtempSync(join(tmpdir(), 'er-shell-'));
  return { dir, driver: new ShellDriver({ handlersDir: dir, outputLimitBytes: 1024, killGraceMs: 200 }) };
}

function script(dir: string, name: string, body: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

const spec = (command: string): HandlerSpec => ({ id: 'h', key: 'local:zmq.test', driver: 'shell', command, exclusive: false });

test('shell driver - event JSON is the last argument and on stdin; env carries id, type, namespace', async () => {
  const { dir, driver } = setup();
  script(dir, 'h.sh', 'for last; do :; done\nprintf "%s\\n" "$#" "$1" "$last" "$EVENT_ID $EVENT_TYPE $EVENT_NAMESPACE"\ncat');
  const event = sampleEvent();
  const out = await driver.run(spec('h.sh --flag'), event, runContext({ env: { PATH: process.env['PATH']!, ...eventEnvironment(event, 1) } }));
  assert.equal(out.status, 'ok');
  assert.equal(out.code, 0);
  const lines = String(out.data).split('\n');
  assert.equal(lines[0], '2');
  assert.equal(lines[1], '--flag');
  assert.deepEqual(JSON.parse(lines[2]!), event);
  assert.equal(lines[3], 'evt-1 zmq.test local');
  assert.deepEqual(JSON.parse(lines[4]!), event);
});

test('shell driver - a payload full of shell metacharacters arrives verbatim as one argument', async () => {
  const { dir, driver } = setup();
  const out1 = join(dir, 'arg.json');
  script(dir, 'save.sh', `for last; do :; done\nprintf '%s' "$last" > '${out1}'\necho "$#"`);
  const nasty = `'; rm -rf / ; $(touch ${dir}/pwned) \`id\` && echo "x" | cat > /tmp/no $HOME * ?`;
  const event = sampleEvent({ payload: { cmd: nasty, nl: 'a\nb' } });
  const out = await driver.run(spec('save.sh'), event, runContext());
  assert.equal(out.status, 'ok');
  assert.equal(String(out.data).trim(), '1');
  assert.deepEqual(JSON.parse(readFileSync(out1, 'utf8')), event);
  assert.equal(existsSync(join(dir, 'pwned')), false);
});

test('shell driver - commands on PATH run when not in the handler directory', async () => {
  const { driver } = setup();
  const out = await driver.run(spec('echo "hello world"'), sampleEvent(), runContext());
  assert.equal(out.status, 'ok');
  assert.ok(String(out.data).startsWith('hello world {'));
});

test('shell driver - non-zero exit is an error with the code and stderr tail', async () => {
  const { dir, driver } = setup();
  script(dir, 'fail.sh', 'echo partial; echo "disk on fire" >&2; exit 3');
  const out = await driver.run(spec('fail.sh'), sampleEvent(), runContext());
  assert.equal(out.status, 'error');
  assert.equal(out.code, 3);
  assert.match(out.error!, /exited with code 3/);
  assert.equal(out.stderr, 'disk on fire\n');
  assert.equal(out.data, 'partial\n');
});

test('shell driver - timeout kills the whole process group', async () => {
  const { dir, driver } = setup();
  const pidFile = join(dir, 'child.pid');
  script(dir, 'slow.sh', `sleep 30 &\necho $! > '${pidFile}'\nwait`);
  const started = Date.now();
  const out = await driver.run(spec('slow.sh'), sampleEvent(), runContext({ timeoutMs: 300 }));
  assert.equal(out.status, 'timeout');
  assert.match(out.error!, /timed out after 300 ms/);
  assert.ok(Date.now() - started < 10_000);
  const grandchild = Number(readFileSync(pidFile, 'utf8'));
  const deadline = Date.now() + 5000;
  let alive = true;
  while (alive && Date.now() < deadline) {
    try {
      process.kill(grandchild, 0);
      await new Promise((r) => setTimeout(r, 50));
    } catch {
      alive = false;
    }
  }
  assert.equal(alive, false, 'background child of the handler was killed too');
});

test('shell driver - output is capped at the limit', async () => {
  const { dir, driver } = setup();
  script(dir, 'loud.sh', 'head -c 5000 /dev/zero | tr "\\0" x');
  const out = await driver.run(spec('loud.sh'), sampleEvent(), runContext());
  assert.equal(out.status, 'ok');
  assert.equal(String(out.data).length, 1024);
  assert.equal(out.dataTruncated, true);
});

test('shell driver - missing command and non-executable file say so', async () => {
  const { dir, driver } = setup();
  const missing = await driver.run(spec('no-such-command-xyz'), sampleEvent(), runContext());
  assert.equal(missing.status, 'error');
  assert.match(missing.error!, /command not found: "no-such-command-xyz"/);
  writeFileSync(join(dir, 'noexec.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(dir, 'noexec.sh'), 0o644);
  const noexec = await driver.run(spec('noexec.sh'), sampleEvent(), runContext());
  assert.equal(noexec.status, 'error');
  assert.match(noexec.error!, /not executable/);
});

test('shell driver - a relative path that escapes the handler directory is refused', async () => {
  const { dir, driver } = setup();
  mkdirSync(join(dir, 'sub'));
  const out = await driver.run(spec('../../bin/sh -c id'), sampleEvent(), runContext());
  assert.equal(out.status, 'error');
  assert.equal(out.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(out.error!, /outside the handler directory/);
});

test('shell driver - a bare shell operator is refused before anything runs', async () => {
  const { driver } = setup();
  const out = await driver.run(spec('echo hi | tee /tmp/x'), sampleEvent(), runContext());
  assert.equal(out.status, 'error');
  assert.equal(out.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(out.error!, /shell operator "\|"/);
});

test('shell driver - an event too big for argv goes on stdin only, with "-" as last argument', async () => {
  const { dir, driver } = setup();
  script(dir, 'big.sh', 'for last; do :; done\necho "$last $EVENT_JSON_ON_STDIN_ONLY"\nwc -c');
  const event = sampleEvent({ payload: { blob: 'x'.repeat(200_000) } });
  const out = await driver.run(spec('big.sh'), event, runContext());
  assert.equal(out.status, 'ok');
  const [first, count] = String(out.data).trim().split('\n');
  assert.equal(first, '- 1');
  assert.equal(Number(count), Buffer.byteLength(JSON.stringify(event)));
});

test('shell driver - the run ends when the handler exits, even if a background child keeps stdout open', async () => {
  const { dir, driver } = setup();
  script(dir, 'bg.sh', 'echo started\n(sleep 30; echo late) &\necho done');
  const started = Date.now();
  const out = await driver.run(spec('bg.sh'), sampleEvent(), runContext({ timeoutMs: 10_000 }));
  assert.equal(out.status, 'ok');
  assert.equal(String(out.data), 'started\ndone\n');
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms: the background child held the job`);
});

test("handler environment - a handler sees the allow-listed variables, EVENT_* and its env, never the daemon's; secrets are masked", async () => {
  const { dir, driver } = setup();
  const secrets = mkdtempSync(join(tmpdir(), 'er-secrets-'));
  writeFileSync(join(secrets, 'api-token'), 's3cr3t-t0ken\n', { mode: 0o600 });
  script(dir, 'env.sh', 'env | sort\necho "token=$API_TOKEN" >&2\nexit 3');
  const daemonEnv = {
    PATH: process.env['PATH']!,
    HOME: '/root',
    LANG: 'C.UTF-8',
    LC_ALL: 'C',
    REDIS_URL: 'redis://:pw@redis:6379',
    MONGO_URL: 'mongodb://u:pw@m/',
    AWS_SECRET_ACCESS_KEY: 'x',
  };
  const environment = new HandlerEnvironment(baseEnvironment(daemonEnv, '/run/er-tmp'), secrets);
  const handler: HandlerSpec = { ...spec('env.sh'), env: { REGION: 'eu', API_TOKEN: { secret: 'api-token' } } };
  const tsfunc = new TsfuncDriver({ handlersDir: dir, outputLimitBytes: 1024 });
  const result = await runHandler({ shell: driver, tsfunc }, environment, handler, sampleEvent(), { id: 'j', run: 1 }, runContext());
  await tsfunc.close();
  const names = String(result.data)
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(0, l.indexOf('=')));
  for (const hidden of ['REDIS_URL', 'MONGO_URL', 'AWS_SECRET_ACCESS_KEY']) assert.ok(!names.includes(hidden), `${hidden} reached the handler`);
  for (const seen of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TMPDIR', 'EVENT_ID', 'EVENT_ATTEMPT', 'REGION', 'API_TOKEN'])
    assert.ok(names.includes(seen), `${seen} is missing`);
  assert.match(String(result.data), /^API_TOKEN=\*\*\*$/m);
  assert.match(String(result.data), /^TMPDIR=\/run\/er-tmp$/m);
  assert.equal(result.stderr, 'token=***\n');
  assert.doesNotMatch(JSON.stringify(result), /s3cr3t/);
});

test('handler environment - a secret file others can read, or a missing one, refuses the run with its name', async () => {
  const { dir, driver } = setup();
  const secrets = mkdtempSync(join(tmpdir(), 'er-secrets-'));
  writeFileSync(join(secrets, 'open'), 'x', { mode: 0o644 });
  chmodSync(join(secrets, 'open'), 0o644);
  script(dir, 'ok.sh', 'echo hi');
  const environment = new HandlerEnvironment({ PATH: process.env['PATH']! }, secrets);
  const tsfunc = new TsfuncDriver({ handlersDir: dir, outputLimitBytes: 1024 });
  const run = (env: HandlerSpec['env']) =>
    runHandler({ shell: driver, tsfunc }, environment, { ...spec('ok.sh'), ...(env ? { env } : {}) }, sampleEvent(), { id: 'j', run: 1 }, runContext());
  const open = await run({ T: { secret: 'open' } });
  assert.equal(open.error_code, 'ERR_HANDLER_REFUSED');
  assert.match(open.error!, /env T: secret file .*open is readable or writable by others \(mode 0644\); fix with chmod 600/);
  const missing = await run({ T: { secret: 'nope' } });
  assert.match(missing.error!, /secret file .*nope not found/);
  const escape = await run({ T: { secret: '../etc/passwd' } });
  assert.match(escape.error!, /must be a file name/);
  await tsfunc.close();
});
