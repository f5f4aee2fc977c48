/**
 * `event-reactor up --local-services` as a new user runs it: it starts Redis and a
 * MongoDB-wire server, records them for status/dlq/events, and stops them on every way
 * out, a forced exit included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localStateFile, type LocalState } from '../../src/devstack/local-state.js';
import { NOT_BUILT, runBin, startBin } from '../helpers/bins.js';
import { eventually, writeTestConfig } from '../helpers/config.js';

/** up's environment: no REDIS_URL / MONGO_URL (so it starts its own), a private state dir. */
function upEnv(): NodeJS.ProcessEnv {
  return { REDIS_URL: '', MONGO_URL: '', XDG_STATE_HOME: mkdtempSync(join(tmpdir(), 'er-state-')) };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startUp(
  env: NodeJS.ProcessEnv,
  logLevel = 'INFO',
): Promise<{ up: ReturnType<typeof startBin>; state: LocalState; stateFile: string; configFile: string; rep: number }> {
  const cfg = await writeTestConfig({
    redisUrl: 'redis://127.0.0.1:1',
    mongoUrl: 'mongodb://127.0.0.1:1',
    handlers: { 'local:up.slow': [{ driver: 'shell', handler: 'slow.sh' }] },
    files: { 'slow.sh': '#!/bin/sh\nsleep 60\n' },
  });
  const up = startBin('event-reactor', ['up', '--local-services', '-c', cfg.configFile, '--log-level', logLevel], env);
  await up.waitFor(/"msg":"started"/, 60_000);
  const stateFile = localStateFile(cfg.configFile, env);
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as LocalState;
  return { up, state, stateFile, configFile: cfg.configFile, rep: cfg.ports.rep };
}

/** The pids of the Redis and MongoDB-wire servers `up` started: its child processes by name. */
function serverPids(upPid: number): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(upPid)], { encoding: 'utf8' });
  const pids = out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, comm]) => comm !== undefined && /redis-server|ferretdb|mongod/.test(comm))
    .map(([pid]) => Number(pid));
  assert.equal(pids.length, 2, `expected redis and a MongoDB-wire server under up, got: ${out}`);
  return pids;
}

test(
  'up - --local-services records its servers (mode 0600) so status finds them without flags; SIGTERM stops them',
  { skip: NOT_BUILT, timeout: 100_000 },
  async () => {
    const env = upEnv();
    const { up, state, stateFile, configFile } = await startUp(env);
    assert.equal(statSync(stateFile).mode & 0o777, 0o600);
    assert.equal(state.pid, up.child.pid);
    const status = await runBin('event-reactor', ['status', '-c', configFile, '--json'], env);
    const report = JSON.parse(status.stdout) as { archive: { error?: string; url: string }; queues: { error?: string } };
    assert.equal(report.archive.error, undefined, `status could not reach the archive up started: ${status.stdout}`);
    assert.equal(report.queues.error, undefined);
    assert.doesNotMatch(status.stdout, new RegExp(new URL(state.redisUrl).password), 'status prints the Redis password');
    const pids = serverPids(up.child.pid!);
    up.child.kill('SIGTERM');
    assert.equal(await up.exited, 0);
    for (const pid of pids) assert.equal(isAlive(pid), false, `server pid ${pid} outlived up`);
    assert.equal(existsSync(stateFile), false, 'the state file is removed');
  },
);

test('up - a second signal (forced exit) still kills the servers it started', { skip: NOT_BUILT, timeout: 100_000 }, async () => {
  const env = upEnv();
  const { up, stateFile, rep } = await startUp(env, 'DEBUG');
  const pids = serverPids(up.child.pid!);
  // A handler that runs for a minute keeps the graceful shutdown waiting.
  const fired = await runBin('fire-event', ['-e', 'up.slow', '-u', `tcp://127.0.0.1:${rep}`]);
  assert.equal(fired.code, 0, fired.stderr);
  await up.waitFor(/"msg":"handler started"/, 20_000);
  up.child.kill('SIGTERM');
  await up.waitFor(/shutting down/, 10_000);
  up.child.kill('SIGTERM');
  assert.equal(await up.exited, 143);
  await eventually(async () => pids.every((p) => !isAlive(p)), 'the servers are gone', 10_000);
  assert.equal(existsSync(stateFile), false);
});
