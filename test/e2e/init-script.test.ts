/**
 * init/init.d/event-reactor run as an operator would: real daemons from bin/ (which
 * need dist/event-reactor.js), pid files and logs in a temp directory, a config on free ports.
 * The daemons run as the user running the tests (DAEMON_USER set to it), except in the
 * tests of DAEMON_USER itself; those that switch users need root and use `nobody`.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
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
const isRoot = process.getuid?.() === 0;
const rootOpts = { skip: opts.skip || (isRoot ? false : 'switching users needs root') };
const me = userInfo().username;

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
    router: { replay_bind: `tcp://127.0.0.1:${ports.replay}`, name: database },
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

/** Runs the script; a variable set to undefined in `extraEnv` is left out, `as` runs it as that user. */
function initScript(args: string[], extraEnv: NodeJS.ProcessEnv = {}, as?: Ids): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(SCRIPT, args, { env: { ...env, ...extraEnv }, timeout: 60_000, ...as }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Ids {
  uid: number;
  gid: number;
}

/** The uid and primary gid of a user, as `id` gives them. */
function idsOf(user: string): Ids {
  const id = (flag: string): number => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** The real, effective, saved and file-system uids and gids of a process. */
function idsOfProcess(pid: number): { uids: number[]; gids: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const ids = (key: string): number[] => (new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/).map(Number);
  return { uids: ids('Uid'), gids: ids('Gid') };
}

/** Hands a test config's directory to `owner`, readable by it alone (the config holds the test Redis password). */
function giveConfig(cfg: TestConfig, owner: Ids): void {
  const dir = dirname(cfg.file);
  for (const path of [dir, cfg.file, join(dir, 'handlers'), join(dir, 'handlers', 'echo.sh'), join(dir, 'handlers.json')]) {
    chownSync(path, owner.uid, owner.gid);
  }
  chmodSync(dir, 0o700);
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
  // Other users (nobody, in the DAEMON_USER tests) may pass through, not list.
  chmodSync(tmp, 0o711);
  piddir = join(tmp, 'run');
  logdir = join(tmp, 'log');
  env = {
    ...process.env,
    PIDDIR: piddir,
    LOGDIR: logdir,
    BINDIR: join(REPO, 'bin'),
    STOP_TIMEOUT: '20',
    // As the user running the tests; the DAEMON_USER tests below override it.
    DAEMON_USER: me,
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
    // The router needs over a second to reach its bind on a loaded machine: give the
    // start check (a plain wait) enough time to see it die.
    const r = await initScript(['start', 'router'], { CONFIG: cfg.file, START_WAIT: '5' });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /event-router did not start/);
    assert.match(r.stderr, /address already in use/i);
    assert.ok(!existsSync(pidFile('router')), 'pid file left behind');
  } finally {
    // Should it have got past the check, before the port is free for it.
    await initScript(['stop', 'router']);
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
    assert.match(r.stderr, /^Usage: .*\{start\|stop\|restart\|reload\|force-reload\|status\} \[router\|sub\|worker\|inputs\]/m);
  }
});

// ---- DAEMON_USER ----

const hasEventReactorUser = spawnSync('id', ['-u', 'event-reactor']).status === 0;

test(
  'init script - without DAEMON_USER, start refuses when there is no event-reactor user, saying how to create it or choose root (exit 6)',
  { skip: opts.skip || (hasEventReactorUser ? 'this host has an event-reactor user' : false) },
  async () => {
    const cfg = await writeConfig('no-user');
    // Unset, and set but empty (as an old defaults file may have it): both mean event-reactor.
    for (const daemonUser of [undefined, '']) {
      const r = await initScript(['start'], { CONFIG: cfg.file, DAEMON_USER: daemonUser });
      assert.equal(r.code, 6, `DAEMON_USER ${JSON.stringify(daemonUser)}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /user event-reactor \(DAEMON_USER\) does not exist; not starting/);
      assert.match(r.stderr, /useradd --system --user-group --home-dir \/var\/lib\/event-reactor --shell \/usr\/sbin\/nologin event-reactor/);
      assert.match(r.stderr, /DAEMON_USER=root runs them as root/);
      assert.doesNotMatch(r.stdout, /Starting/);
      for (const d of ['router', 'sub', 'worker']) assert.ok(!existsSync(pidFile(d)), `${d} pid file written`);
    }
  },
);

test('init script - a DAEMON_USER that does not exist makes start and restart exit 6, naming it, and starts nothing', opts, async () => {
  const cfg = await writeConfig('missing-user');
  for (const action of ['start', 'restart']) {
    const r = await initScript([action, 'router'], { CONFIG: cfg.file, DAEMON_USER: 'er-no-such-user' });
    assert.equal(r.code, 6, `${action}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /user er-no-such-user \(DAEMON_USER\) does not exist/);
    assert.match(r.stderr, /useradd --system .* er-no-such-user$/m);
    assert.ok(!existsSync(pidFile('router')), 'a pid file was written');
  }
});

test('init script - without DAEMON_USER the daemons run as event-reactor, in pid and log directories made theirs', rootOpts, async () => {
  // The host need not have an event-reactor user: an `id` ahead on PATH gives that name
  // nobody's ids, and the script switches to them for real.
  const nobody = idsOf('nobody');
  const realId = ['/usr/bin/id', '/bin/id'].find((p) => existsSync(p));
  assert.ok(realId, 'id not found in /usr/bin or /bin');
  const shim = join(tmp, 'shim-bin');
  mkdirSync(shim);
  writeFileSync(join(shim, 'id'), `#!/bin/sh\nif [ "$#" -eq 2 ] && [ "$2" = event-reactor ]; then exec ${realId} "$1" nobody; fi\nexec ${realId} "$@"\n`, {
    mode: 0o755,
  });
  const cfg = await writeConfig('as-event-reactor');
  giveConfig(cfg, nobody);
  // Missing, so the script creates them.
  const run = join(tmp, 'er-run');
  const log = join(tmp, 'er-log');
  const userEnv = { CONFIG: cfg.file, PIDDIR: run, LOGDIR: log, DAEMON_USER: undefined, PATH: `${shim}:${process.env['PATH'] ?? ''}` };
  try {
    const r = await initScript(['start', 'router'], userEnv);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stderr, /as root/);
    const pid = Number(readFileSync(join(run, 'event-router.pid'), 'utf8').trim());
    const ids = idsOfProcess(pid);
    assert.deepEqual(ids.uids, [nobody.uid, nobody.uid, nobody.uid, nobody.uid], 'router uids');
    assert.deepEqual(ids.gids, [nobody.gid, nobody.gid, nobody.gid, nobody.gid], 'router gids');
    for (const path of [run, log, join(run, 'event-router.pid'), join(log, 'event-router.log')]) {
      const st = statSync(path);
      assert.deepEqual([st.uid, st.gid], [nobody.uid, nobody.gid], `owner of ${path}`);
    }
    assert.equal(statSync(run).mode & 0o777, 0o755);
    assert.equal(statSync(log).mode & 0o777, 0o750);
    assert.equal(statSync(join(log, 'event-router.log')).mode & 0o777, 0o640);
    const status = await initScript(['status', 'router'], userEnv);
    assert.equal(status.code, 0, status.stdout);
  } finally {
    await initScript(['stop', 'router'], userEnv);
  }
});

test('init script - DAEMON_USER=root runs the daemons as root, and start says so', rootOpts, async () => {
  const cfg = await writeConfig('as-root');
  try {
    const r = await initScript(['start', 'router'], { CONFIG: cfg.file, DAEMON_USER: 'root' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /running the daemons, and their handlers, as root \(DAEMON_USER=root\)/);
    assert.deepEqual(idsOfProcess(readPid('router')).uids, [0, 0, 0, 0]);
  } finally {
    await initScript(['stop', 'router']);
  }
});

test('init script - run by a user other than root, start refuses to switch to another DAEMON_USER (exit 4)', rootOpts, async () => {
  const nobody = idsOf('nobody');
  const r = await initScript(['start', 'router'], { DAEMON_USER: 'root', PIDDIR: join(tmp, 'nobody-run'), LOGDIR: join(tmp, 'nobody-log') }, nobody);
  assert.equal(r.code, 4, r.stdout + r.stderr);
  assert.match(r.stderr, /only root can start the daemons as root \(DAEMON_USER\); run this as root, or set DAEMON_USER=nobody/);
  assert.ok(!existsSync(join(tmp, 'nobody-run')), 'PIDDIR was created');
});

test(
  'init script - an existing LOGDIR is not handed to DAEMON_USER; start refuses it when that user cannot write it, saying how to fix it',
  rootOpts,
  async () => {
    const nobody = idsOf('nobody');
    const cfg = await writeConfig('logdir-root');
    giveConfig(cfg, nobody);
    const log = join(tmp, 'root-log');
    mkdirSync(log);
    chmodSync(log, 0o755);
    const run = join(tmp, 'root-log-run');
    const userEnv = { CONFIG: cfg.file, PIDDIR: run, LOGDIR: log, DAEMON_USER: 'nobody' };
    try {
      const r = await initScript(['start', 'router'], userEnv);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.ok(r.stderr.includes(`${join(log, 'event-router.log')} cannot be written by nobody; fix with: chown -R nobody: ${log}`), r.stderr);
      assert.equal(statSync(log).uid, 0, 'LOGDIR changed hands');
      assert.ok(!existsSync(join(run, 'event-router.pid')), 'a pid file was written');
    } finally {
      await initScript(['stop', 'router'], userEnv);
    }
  },
);

test('init script - a log file DAEMON_USER replaced with a symlink to a root-only file is not written through', rootOpts, async () => {
  const nobody = idsOf('nobody');
  const cfg = await writeConfig('log-symlink');
  giveConfig(cfg, nobody);
  const victim = join(tmp, 'root-only');
  writeFileSync(victim, 'root secret\n', { mode: 0o600 });
  const log = join(tmp, 'symlink-log');
  mkdirSync(log);
  chownSync(log, nobody.uid, nobody.gid);
  // As the daemon user could do in its own log directory.
  symlinkSync(victim, join(log, 'event-router.log'));
  const run = join(tmp, 'symlink-run');
  const userEnv = { CONFIG: cfg.file, PIDDIR: run, LOGDIR: log, DAEMON_USER: 'nobody' };
  try {
    const r = await initScript(['start', 'router'], userEnv);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /cannot be written by nobody/);
    assert.ok(!existsSync(join(run, 'event-router.pid')), 'a pid file was written');
  } finally {
    // A router started anyway would write its log into the file: stop it before looking.
    await initScript(['stop', 'router'], userEnv);
  }
  assert.equal(readFileSync(victim, 'utf8'), 'root secret\n');
});
