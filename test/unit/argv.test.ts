import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitArgv } from '../../src/handlers/argv.js';
import { HandlerRefusedError } from '../../src/errors.js';
import { jobIdFor } from '../../src/queue/job.js';

test('argv - splits on whitespace and honours quotes and escapes', () => {
  assert.deepEqual(splitArgv('echo'), ['echo']);
  assert.deepEqual(splitArgv('  notify.sh   --to ops  '), ['notify.sh', '--to', 'ops']);
  assert.deepEqual(splitArgv(`say 'hello world' "a \\"b\\" \\$c" d\\ e`), ['say', 'hello world', 'a "b" $c', 'd e']);
  assert.deepEqual(splitArgv(`x '' ""`), ['x', '', '']);
  assert.deepEqual(splitArgv(`x 'it'"'"'s'`), ['x', "it's"]);
  assert.deepEqual(splitArgv('x "$HOME" *'), ['x', '$HOME', '*']);
});

test('argv - quoted operators are plain words; bare ones are refused', () => {
  assert.deepEqual(splitArgv(`grep '|' file`), ['grep', '|', 'file']);
  for (const cmd of ['a | b', 'a > out', 'a && b', 'a ; b', 'a &']) {
    assert.throws(
      () => splitArgv(cmd),
      (err: unknown) => err instanceof HandlerRefusedError && /without a shell/.test(err.message),
      cmd,
    );
  }
});

test('argv - unbalanced quotes and empty commands are refused', () => {
  assert.throws(() => splitArgv(`echo 'oops`), /unterminated single quote/);
  assert.throws(() => splitArgv('echo "oops'), /unterminated double quote/);
  assert.throws(() => splitArgv('echo \\'), /lone backslash/);
  assert.throws(() => splitArgv('   '), /empty/);
});

test('job id - derived from event and handler, BullMQ-safe, distinct for distinct ids', () => {
  assert.equal(jobIdFor('01ABC', 'h1'), '01ABC.h1');
  assert.ok(!jobIdFor('a:b', 'h').includes(':'));
  assert.notEqual(jobIdFor('a:b', 'h'), jobIdFor('a%3Ab', 'h'));
});
