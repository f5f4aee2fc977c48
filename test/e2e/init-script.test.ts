/**
 * init/init.d/event-reactor run as an operator would: real daemons from bin/ (which
 * need dist/event-reactor.js), pid files and logs in a temp directory, a config on free ports.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/devstack/free-port.js';
import { canConnect } from '../../src/devstack/can-connect.js';
import { dropDatabase, uniqueName, useServices } from '../helpers/services.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = join(REPO, 'init/init.d/event-reactor');
const built = existsSync(join(REPO, 'dist/event-reactor.js'));
const opts = { skip: built ? false : 'dist/event-reactor.js is missing: run `npm run build` first (npm test does)' };

let tmp = '';
let env: NodeJS.ProcessEnv = {};
let piddir = '';
let logdir = '';
const databases: string[] = [];
let mongoUrl: string | undefined;

interface TestConfig {
  file: string;
  ports: { pull: number; rep: number; pub: number };
}

/** A config.json on free ports with a fresh database and queue, and a one-handler directory. */
async function writeConfig(name: string, edit: (c: Record<string, unknown>) => void = () => undefined): Promise<TestConfig> {
  const dir = join(tmp, name);
  mkdirSync(join(dir, 'handlers'), { recursive: true });
  writeFileSync(join(dir, 'handlers', 'echo.sh'), '#!/bin/sh\necho "$EVENT_ID"\n');
  chmodSync(join(dir, 'handlers', 'echo.sh'), 0o755);
  writeFileSync(join(dir, 'handlers.json'), JSON.stringify({ 'local:init.test': [{ driver: 'shell', handler: 'echo.sh' }] }));
  const ports = { pull: await freePort(), rep: await freePort(), pub: await freePort(), replay: await freePort() };
  const database = uniqueName('er_init').replaceAll('-', '_');
  databases.push(database);
  const config: Record<string, unknown> = {
    aggregator: { config: { listen_address: '127.0.0.1', port: ports.pull, protocol: 'tcp', type: 'zmq.PULL' } },
    feeds: { feeders: [{ handler: 'ZMQInput', config: { uri: `tcp://127.0.0.1:${ports.rep}`, namespace: 'local', type: 'zmq.REP' } }] },
    outputs: [{ handler: 'zeromq', config: { protocol: 'tcp', port: ports.pub, listen_address: '127.0.0.1', type: 'zmq.PUB' } }],
    logging: { loglevel: 'INFO' },
    router: { replay_bind: `tcp://127.0.0.1:${ports.replay}` },
    mongodb: { url: (mongoUrl = await services.mongoUrl()), database },
    redis: { url: await services.redisUrl() },
    queue: { name: uniqueName('init') },
    event_handlers_dir: 'handlers',
    event_handlers: 'handlers.json',
  };
  edit(config);
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, ports };
}

interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

function initScript(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(SCRIPT, args, { env: { ...env, ...extraEnv }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const pidFile = (daemon: string): string => join(piddir, `event-${daemon}.pid`);
const readPid = (daemon: string): number => Number(readFileSync(pidFile(daemon), 'utf8').trim());

/** Alive and not a zombie (where no init reaps orphans, a stopped daemon lingers as one). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

/** A pid that belonged to a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '']);
    child.once('error', reject);
    child.once('exit', () => resolve(child.pid!));
  });
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'er-init-'));
  piddir = join(tmp, 'run');
  logdir = join(tmp, 'log');
  env = {
    ...process.env,
    PIDDIR: piddir,
    LOGDIR: logdir,
    BINDIR: join(REPO, 'bin'),
    STOP_TIMEOUT: '20',
    // Never read the host's /etc/default/event-reactor.
    EVENT_REACTOR_DEFAULTS: join(tmp, 'no-such-defaults'),
  };
});

after(async () => {
  if (built) {
    // Whatever a failed test left running.
    await initScript(['stop']);
    if (mongoUrl) {
      for (const db of databases) await dropDatabase(mongoUrl, db).catch(() => undefined);
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

// After the hooks above, so its `after` (stopping servers it started) runs last.
const services = useServices();

test('init script - start router checks the config, writes the pid file and leaves the router running', opts, async () => {
  const cfg = await writeConfig('start');
  try {
    const r = await initScript(['start', 'router'], { CONFIG: cfg.file });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /configuration OK/);
    const pid = readPid('router');
    assert.match(r.stdout, new RegExp(`event-router started \\(pid ${pid}\\)`));
    assert.ok(isRunning(pid), `router pid ${pid} is not running`);
    // The init script returns once the process survived its start check; binding may
    // finish a moment later on a loaded machine, so poll with a deadline.
    const deadline = Date.now() + 15_000;
    while (!(await canConnect('127.0.0.1', cfg.ports.rep)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    assert.ok(await canConnect('127.0.0.1', cfg.ports.rep), 'router REP port is not listening');
    while (!/"msg":"started"/.test(readFileSync(join(logdir, 'event-router.log'), 'utf8')) && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 100));
    assert.match(readFileSync(join(logdir, 'event-router.log'), 'utf8'), /"msg":"started"/);
  } finally {
    await initScript(['stop', 'router']);
  }
});

test('init script - status router reports "running (pid N)" with exit 0', opts, async () => {
  const cfg = await writeConfig('status');
  try {
    assert.equal((await initScript(['start', 'router'], { CONFIG: cfg.file })).code, 0);
    const r = await initScript(['status', 'router']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, `event-router is running (pid ${readPid('router')})\n`);
  } finally {
    await initScript(['stop', 'router']);
  }
});

test('init script - stop router ends the router, removes the pid file, and status then exits 3', opts, async () => {
  const cfg = await writeConfig('stop');
  assert.equal((await initScript(['start', 'router'], { CONFIG: cfg.file })).code, 0);
  const pid = readPid('router');
  const r = await initScript(['stop', 'router']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /event-router stopped/);
  assert.ok(!isRunning(pid), `router pid ${pid} still runs`);
  assert.ok(!existsSync(pidFile('router')), 'pid file left behind');
  assert.match(readFileSync(join(logdir, 'event-router.log'), 'utf8'), /"msg":"shutting down"/);
  const status = await initScript(['status', 'router']);
  assert.equal(status.code, 3);
  assert.equal(status.stdout, 'event-router is stopped\n');
});

test('init script - status with a stale pid file exits 1, "dead but pid file exists"', opts, async () => {
  mkdirSync(piddir, { recursive: true });
  writeFileSync(pidFile('router'), `${await deadPid()}\n`);
  try {
    const r = await initScript(['status', 'router']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /event-router is dead but pid file exists/);
  } finally {
    rmSync(pidFile('router'), { force: true });
  }
});

test('init script - stop with a stale pid file removes it and exits 0', opts, async () => {
  mkdirSync(piddir, { recursive: true });
  writeFileSync(pidFile('router'), `${await deadPid()}\n`);
  const r = await initScript(['stop', 'router']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /removed stale pid file/);
  assert.ok(!existsSync(pidFile('router')));
});

test('init script - a pid file naming some other live process counts as dead, and stop leaves that process alone', opts, async () => {
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    assert.ok(other.pid);
    mkdirSync(piddir, { recursive: true });
    writeFileSync(pidFile('router'), `${other.pid}\n`);
    const status = await initScript(['status', 'router']);
    assert.equal(status.code, 1, status.stdout);
    const stop = await initScript(['stop', 'router']);
    assert.equal(stop.code, 0);
    assert.ok(isRunning(other.pid), 'stop signalled a process that is not the router');
  } finally {
    other.kill('SIGKILL');
    rmSync(pidFile('router'), { force: true });
  }
});

test('init script - start refuses a broken config, shows the check-config message and starts nothing', opts, async () => {
  const cfg = await writeConfig('broken', (c) => {
    c['outputs'] = [{ handler: 'zeromq', config: { port: 'fifty-five thousand' } }];
  });
  const r = await initScript(['start', 'router'], { CONFIG: cfg.file });
  assert.notEqual(r.code, 0);
  assert.equal(r.code, 6, 'LSB "program is not configured"');
  assert.match(r.stderr, /configuration check failed/);
  assert.ok(r.stderr.includes(`${cfg.file}: outputs[0].config.port`), r.stderr);
  assert.ok(!existsSync(pidFile('router')), 'a pid file was written');
});

test('init script - start exits 1 and shows the log when the router dies at once', opts, async () => {
  const cfg = await writeConfig('port-taken');
  const squatter: Server = createServer();
  await new Promise<void>((resolve) => squatter.listen(cfg.ports.pull, '127.0.0.1', resolve));
  try {
    const r = await initScript(['start', 'router'], { CONFIG: cfg.file });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /event-router did not start/);
    assert.match(r.stderr, /address already in use/i);
    assert.ok(!existsSync(pidFile('router')), 'pid file left behind');
  } finally {
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
  }
});

test('init script - start and stop without a daemon name run router, sub and worker, and stop them in reverse', opts, async () => {
  const cfg = await writeConfig('all');
  const order = (text: string, verb: string): string[] => [...text.matchAll(new RegExp(`^${verb} event-(\\w+)`, 'gm'))].map((m) => m[1]!);
  try {
    const start = await initScript(['start'], { CONFIG: cfg.file });
    assert.equal(start.code, 0, start.stdout + start.stderr);
    assert.deepEqual(order(start.stdout, 'Starting'), ['router', 'sub', 'worker']);
    const pids = ['router', 'sub', 'worker'].map(readPid);
    for (const pid of pids) assert.ok(isRunning(pid), `pid ${pid} is not running`);

    const status = await initScript(['status']);
    assert.equal(status.code, 0, status.stdout);
    assert.equal(status.stdout.match(/is running \(pid \d+\)/g)?.length, 3, status.stdout);

    const stop = await initScript(['stop']);
    assert.equal(stop.code, 0, stop.stdout + stop.stderr);
    assert.deepEqual(order(stop.stdout, 'Stopping'), ['worker', 'sub', 'router']);
    for (const pid of pids) assert.ok(!isRunning(pid), `pid ${pid} still runs`);
    for (const d of ['router', 'sub', 'worker']) assert.ok(!existsSync(pidFile(d)), `${d} pid file left behind`);
  } finally {
    await initScript(['stop']);
  }
});

test('init script - settings come from the defaults file, and the environment wins over it', opts, async () => {
  const defaults = join(tmp, 'defaults');
  const fromFile = join(tmp, 'run-from-defaults');
  mkdirSync(fromFile, { recursive: true });
  writeFileSync(join(fromFile, 'event-router.pid'), `${await deadPid()}\n`);
  writeFileSync(defaults, `PIDDIR=${fromFile}\nSTOP_TIMEOUT=5\n`);
  const { PIDDIR: _drop, ...withoutPiddir } = env;
  const viaFile = await new Promise<ScriptResult>((resolve) => {
    execFile(SCRIPT, ['status', 'router'], { env: { ...withoutPiddir, EVENT_REACTOR_DEFAULTS: defaults } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
  assert.equal(viaFile.code, 1);
  assert.ok(viaFile.stdout.includes(join(fromFile, 'event-router.pid')), viaFile.stdout);
  const viaEnv = await initScript(['status', 'router'], { EVENT_REACTOR_DEFAULTS: defaults });
  assert.equal(viaEnv.code, 3, viaEnv.stdout);
});

test('init script - an unknown action or daemon name exits 2 with the usage', opts, async () => {
  for (const args of [['reload-everything'], ['start', 'mailer'], []]) {
    const r = await initScript(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /^Usage: .*\{start\|stop\|restart\|force-reload\|status\} \[router\|sub\|worker\|inputs\]/m);
  }
});
