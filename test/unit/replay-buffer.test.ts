import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayBuffer } from '../../src/router/replay-buffer.js';
import { parseReplayRequest } from '../../src/router/replay-protocol.js';

test('replay buffer - keeps the newest events within the count bound', () => {
  const b = new ReplayBuffer(3, 1_000_000);
  for (let seq = 1; seq <= 5; seq++) b.append(seq, `{"seq":${seq}}`);
  assert.equal(b.size, 3);
  assert.equal(b.firstSeq, 3);
  assert.equal(b.lastSeq, 5);
  assert.deepEqual(b.since(0, 10, 1e9).map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(b.since(3, 10, 1e9).map((e) => e.seq), [4, 5]);
  assert.deepEqual(b.since(5, 10, 1e9), []);
});

test('replay buffer - evicts by bytes and honours limit and reply size', () => {
  const b = new ReplayBuffer(100, 25);
  for (let seq = 1; seq <= 6; seq++) b.append(seq, 'x'.repeat(10));
  assert.equal(b.size, 2);
  assert.equal(b.bytes, 20);
  assert.equal(b.firstSeq, 5);
  const c = new ReplayBuffer(100, 1e9);
  for (let seq = 1; seq <= 10; seq++) c.append(seq, 'y'.repeat(10));
  assert.equal(c.since(0, 3, 1e9).length, 3);
  assert.deepEqual(c.since(0, 100, 35).map((e) => e.seq), [1, 2, 3]);
  assert.equal(c.since(0, 100, 1).length, 1, 'always at least one event');
});

test('replay protocol - requests are validated with a message', () => {
  assert.deepEqual(parseReplayRequest('{"since":{"epoch":5,"seq":0}}'), { since: { epoch: 5, seq: 0 }, limit: 1000 });
  assert.deepEqual(parseReplayRequest('{"status":true}'), { status: true });
  assert.deepEqual(parseReplayRequest('{"since":{"epoch":5,"seq":0},"limit":1e9}'), { since: { epoch: 5, seq: 0 }, limit: 10_000 });
  for (const bad of ['nope', '[]', '{}', '{"since":{"epoch":"x","seq":1}}', '{"since":{"epoch":1,"seq":-1}}', '{"since":{"epoch":1,"seq":1},"limit":0}']) {
    assert.equal(typeof parseReplayRequest(bad), 'string', bad);
  }
});
