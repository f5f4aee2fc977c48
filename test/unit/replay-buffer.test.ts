import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayBuffer } from '../../src/router/replay-buffer.js';
import { parseReplayRequest } from '../../src/wire/replay-protocol.js';

test('replay buffer - keeps the newest events within the count bound', () => {
  const b = new ReplayBuffer(3, 1_000_000);
  for (let seq = 1; seq <= 5; seq++) b.append(seq, Buffer.from(`{"seq":${seq}}`));
  assert.equal(b.size, 3);
  assert.equal(b.firstSeq, 3);
  assert.equal(b.lastSeq, 5);
  assert.deepEqual(
    b.since(0, 10, 1e9).map((e) => e.seq),
    [3, 4, 5],
  );
  assert.deepEqual(
    b.since(3, 10, 1e9).map((e) => e.seq),
    [4, 5],
  );
  assert.deepEqual(b.since(5, 10, 1e9), []);
});

test('replay buffer - evicts by bytes and honours limit and reply size', () => {
  const b = new ReplayBuffer(100, 25);
  for (let seq = 1; seq <= 6; seq++) b.append(seq, Buffer.from('x'.repeat(10)));
  assert.equal(b.size, 2);
  assert.equal(b.bytes, 20);
  assert.equal(b.firstSeq, 5);
  const c = new ReplayBuffer(100, 1e9);
  for (let seq = 1; seq <= 10; seq++) c.append(seq, Buffer.from('y'.repeat(10)));
  assert.equal(c.since(0, 3, 1e9).length, 3);
  assert.deepEqual(
    c.since(0, 100, 35).map((e) => e.seq),
    [1, 2, 3],
  );
  assert.equal(c.since(0, 100, 1).length, 1, 'always at least one event');
});

test('replay buffer - bodies survive slab turnover and match a plain model (random sizes, bounds and reads)', () => {
  let rnd = 12345;
  const random = (n: number): number => (rnd = (rnd * 1103515245 + 12345) % 2 ** 31) % n;
  for (const [maxEvents, maxBytes] of [
    [50, 3_000_000],
    [5000, 2_500_000],
    [7, 100],
  ] as const) {
    const b = new ReplayBuffer(maxEvents, maxBytes);
    const model: { seq: number; body: Buffer }[] = [];
    let bytes = 0;
    for (let seq = 1; seq <= 4000; seq++) {
      // Mostly small, now and then over a slab (1 MiB) or over maxBytes.
      const len = random(100) === 0 ? 1_100_000 : 1 + random(3000);
      const body = Buffer.alloc(len, seq % 251);
      if (len >= 4) body.writeUInt32LE(seq, 0);
      b.append(seq, body);
      model.push({ seq, body });
      bytes += len;
      while (model.length > maxEvents || (bytes > maxBytes && model.length > 1)) bytes -= model.shift()!.body.length;
      if (seq % 97 === 0 || seq > 3990) {
        assert.equal(b.size, model.length);
        assert.equal(b.bytes, bytes);
        assert.equal(b.firstSeq, model[0]!.seq);
        const after = model[0]!.seq - 1 + random(model.length);
        const got = b.since(after, 1e9, 1e12);
        const want = model.filter((e) => e.seq > after);
        assert.deepEqual(
          got.map((e) => e.seq),
          want.map((e) => e.seq),
        );
        for (const [i, e] of got.entries()) assert.ok(e.body.equals(want[i]!.body), `body of ${e.seq}`);
      }
    }
  }
});

test('replay buffer - reserved and reused storage keeps every body exact', () => {
  // 3 MiB reserved; events of up to 300 KB turn the 1 MiB slabs over many times.
  const b = new ReplayBuffer(1000, 3 << 20, 3 << 20);
  const model: Buffer[] = [];
  let bytes = 0;
  for (let seq = 1; seq <= 3000; seq++) {
    const body = Buffer.alloc(1 + ((seq * 7919) % 300_000), seq % 251);
    b.append(seq, body);
    model.push(body);
    bytes += body.length;
    while (bytes > 3 << 20 && model.length > 1) bytes -= model.shift()!.length;
    if (seq % 37 !== 0) continue;
    const got = b.since(seq - model.length, 1e9, 1e12);
    assert.equal(got.length, model.length);
    for (const [i, e] of got.entries()) assert.ok(e.body.equals(model[i]!), `body of ${e.seq} after ${seq}`);
  }
});

test('replay buffer - a sequence number out of order starts afresh', () => {
  const b = new ReplayBuffer(10, 1000);
  b.append(1, Buffer.from('a'));
  b.append(2, Buffer.from('b'));
  b.append(7, Buffer.from('c'));
  assert.equal(b.size, 1);
  assert.equal(b.firstSeq, 7);
  assert.deepEqual(
    b.since(0, 10, 1e9).map((e) => e.body.toString()),
    ['c'],
  );
  assert.throws(() => new ReplayBuffer(0, 10), RangeError);
});

test('replay protocol - requests are validated with a message', () => {
  assert.deepEqual(parseReplayRequest('{"since":{"epoch":5,"seq":0}}'), { since: { epoch: 5, seq: 0 }, limit: 1000 });
  assert.deepEqual(parseReplayRequest('{"status":true}'), { status: true });
  assert.deepEqual(parseReplayRequest('{"since":{"epoch":5,"seq":0},"limit":1e9}'), { since: { epoch: 5, seq: 0 }, limit: 10_000 });
  for (const bad of ['nope', '[]', '{}', '{"since":{"epoch":"x","seq":1}}', '{"since":{"epoch":1,"seq":-1}}', '{"since":{"epoch":1,"seq":1},"limit":0}']) {
    assert.equal(typeof parseReplayRequest(bad), 'string', bad);
  }
});
