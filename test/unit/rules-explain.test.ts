import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeDecision, explainHandler, withDecision } from '../../src/rules/explain.js';
import { compileKeyPattern } from '../../src/rules/glob.js';
import { compilePattern } from '../../src/rules/pattern.js';
import { compileTemplate } from '../../src/rules/template.js';

const event = { id: '01J', namespace: 'local', event_type: 'disk.full', payload: { mount: '/var', used: 42 } };
const key = compileKeyPattern('local:disk.*');
const when = compilePattern({ payload: { used: [{ numeric: ['>', 90] }] } }, { path: 'local:disk.*[0].when' });

test('explain - a key mismatch stops at the key stage', () => {
  const x = explainHandler({ key: compileKeyPattern('web:*') }, event);
  assert.equal(x.runs, false);
  assert.deepEqual(x.decisions, [{ stage: 'key', pass: false, eventKey: 'local:disk.full', keyPattern: 'web:*', exact: false }]);
  assert.equal(describeDecision(x.decisions[0]!), 'key: FAIL: event key local:disk.full does not match glob web:*');
});

test('explain - a pattern failure names the field, the expected condition and the actual value', () => {
  const x = explainHandler({ key, when }, event);
  assert.equal(x.runs, false);
  const d = x.decisions[1]!;
  assert.equal(d.stage, 'when');
  assert.equal(d.pass, false);
  assert.equal(describeDecision(d), 'when: FAIL: payload.used is 42, expected [{"numeric":[">",90]}] (local:disk.*[0].when.payload.used)');
});

test('explain - a handler that runs shows every stage passing and the argv', () => {
  const x = explainHandler({ key, template: compileTemplate('notify.sh {{payload.mount}}', { path: 'local:disk.*[0].handler' }) }, event);
  assert.equal(x.runs, true);
  assert.deepEqual(
    x.decisions.map((d) => [d.stage, d.pass]),
    [
      ['key', true],
      ['when', true],
      ['template', true],
    ],
  );
  assert.equal(describeDecision(x.decisions[2]!), 'template: pass: argv ["notify.sh","/var"]');
});

test('explain - a missing placeholder is a template failure', () => {
  const x = explainHandler({ key, template: compileTemplate('notify.sh {{payload.inode}}', { path: 'p' }) }, event);
  assert.equal(x.runs, false);
  assert.equal(describeDecision(x.decisions[2]!), 'template: FAIL: the event has no value at {{payload.inode}}');
});

test('explain - stateful stages are appended by their owners, and skipped once a stage failed', () => {
  const passing = explainHandler({ key }, event);
  const throttled = withDecision(passing, { stage: 'throttle', pass: false, reason: '3 runs in the last 60 s (limit 3)', details: { windowMs: 60_000 } });
  assert.equal(throttled.runs, false);
  assert.equal(describeDecision(throttled.decisions[2]!), 'throttle: FAIL: 3 runs in the last 60 s (limit 3)');
  const after = withDecision(throttled, { stage: 'debounce', pass: true, reason: 'quiet for 5 s' });
  assert.equal(after, throttled);
});
