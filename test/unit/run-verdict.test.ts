import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterEarlierCheck, afterRun, beforeRun } from '../../src/queue/run-verdict.js';

test('run verdict - a job taken during shutdown goes back without running', () => {
  assert.equal(beforeRun({ attempt: 1, run: 1, shuttingDown: true }), 'requeue');
});

test('run verdict - a first start runs; a restart after an unfinished start checks earlier results first', () => {
  assert.equal(beforeRun({ attempt: 1, run: 1, shuttingDown: false }), 'run');
  assert.equal(beforeRun({ attempt: 2, run: 2, shuttingDown: false }), 'run', 'a retry after a failed attempt');
  assert.equal(beforeRun({ attempt: 1, run: 2, shuttingDown: false }), 'check-earlier', 'restarted after a stall or a shutdown');
});

test('run verdict - an earlier ok result completes the job without running it again', () => {
  assert.equal(afterEarlierCheck('job#1'), 'already-ran');
  assert.equal(afterEarlierCheck(undefined), 'run');
});

test('run verdict - after a run: ok, requeue on shutdown, refused at once, dead on the last attempt, else retry', () => {
  const end = { status: 'error' as const, abortedByShutdown: false, attempt: 1, attempts: 3 };
  assert.equal(afterRun({ ...end, status: 'ok' }), 'ok');
  assert.equal(afterRun({ ...end, status: 'ok', abortedByShutdown: true }), 'ok', 'a run that finished before the abort took effect');
  assert.equal(afterRun({ ...end, abortedByShutdown: true, attempt: 3 }), 'requeue', 'a shutdown never uses up the last attempt');
  assert.equal(afterRun({ ...end, errorCode: 'ERR_HANDLER_REFUSED' }), 'refused');
  assert.equal(afterRun({ ...end, status: 'timeout', attempt: 3 }), 'dead');
  assert.equal(afterRun({ ...end, attempt: 2 }), 'retry');
});
