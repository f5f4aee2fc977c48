import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ReactorEvent } from '../../src/event/event.js';
import type { ReplayReply } from '../../src/wire/replay-protocol.js';
import { Sequencer, classify, lostBefore } from '../../src/sub/sequencer.js';
import { sampleEvent } from '../helpers/events.js';

const ev = (epoch: number, seq: number): ReactorEvent => sampleEvent({ id: `${epoch}-${seq}`, epoch, seq });

function reply(over: Partial<ReplayReply<ReactorEvent>>): ReplayReply<ReactorEvent> {
  return { epoch: 7, first_seq: 1, last_seq: 0, buffered: 0, bytes: 0, events: [], more: false, missed: null, epoch_changed: false, ...over };
}

test('sequencer - classify: repeat, next, unsequenced, gap', () => {
  const p = { epoch: 7, seq: 10 };
  assert.equal(classify(ev(7, 10), p), 'duplicate');
  assert.equal(classify(ev(7, 3), p), 'duplicate');
  assert.equal(classify(ev(7, 11), p), 'next');
  assert.equal(classify(ev(7, 12), p), 'gap');
  assert.equal(classify(ev(8, 1), p), 'gap', 'a newer epoch is a gap until the replay socket says where it starts');
  assert.equal(classify(ev(6, 99), p), 'unsequenced', 'an older router run: archived as it comes');
  assert.equal(classify(ev(7, 0), p), 'unsequenced', 'no seq: a legacy publisher');
  assert.equal(classify(ev(7, 1), undefined), 'gap', 'no position: ask the replay socket first');
});

test('sequencer - lostBefore names the exact range, or nothing without a position', () => {
  assert.deepEqual(lostBefore({ epoch: 7, seq: 10 }, ev(7, 15), 'r'), { epoch: 7, from: 11, to: 14, reason: 'r' });
  assert.deepEqual(lostBefore({ epoch: 6, seq: 10 }, ev(7, 4), 'r'), { epoch: 7, from: 1, to: 3, reason: 'r' });
  assert.equal(lostBefore({ epoch: 7, seq: 10 }, ev(7, 11), 'r'), undefined);
  assert.equal(lostBefore(undefined, ev(7, 15), 'r'), undefined);
});

test('sequencer - in-sequence events are taken with their cursor; a repeat is a duplicate', () => {
  const s = new Sequencer({ epoch: 7, seq: 10 }, 100);
  assert.deepEqual(s.offer(ev(7, 11), false), { action: 'take', taken: { event: ev(7, 11), cursor: { epoch: 7, seq: 11 } } });
  assert.deepEqual(s.offer(ev(7, 11), false), { action: 'duplicate' });
  assert.deepEqual(s.offer(ev(6, 1), false), { action: 'take', taken: { event: ev(6, 1) } });
  assert.deepEqual(s.position, { epoch: 7, seq: 11 }, 'an unsequenced event does not move the position');
});

test('sequencer - a gap holds the event and asks for a repair; events during the repair are held, then released in order', () => {
  const s = new Sequencer({ epoch: 7, seq: 10 }, 100);
  assert.deepEqual(s.offer(ev(7, 13), false), { action: 'hold', repair: true });
  assert.deepEqual(s.offer(ev(7, 15), true), { action: 'hold', repair: false });
  assert.deepEqual(s.offer(ev(7, 14), true), { action: 'hold', repair: false });
  const step = s.applyReplay(reply({ events: [ev(7, 11), ev(7, 12), ev(7, 13)], last_seq: 15 }));
  assert.deepEqual(
    step.taken.map((t) => t.cursor?.seq),
    [11, 12, 13],
  );
  const released = s.release(true);
  assert.deepEqual(
    released.taken.map((t) => t.event.seq),
    [14, 15],
  );
  assert.equal(released.duplicates, 1, '13 came by replay and was held live too');
  assert.equal(released.done, true);
  assert.deepEqual(s.position, { epoch: 7, seq: 15 });
});

test('sequencer - a gap still open after the fetch keeps the events behind it held', () => {
  const s = new Sequencer({ epoch: 7, seq: 10 }, 100);
  s.offer(ev(7, 20), false);
  s.applyReplay(reply({ events: [ev(7, 11)], more: true }));
  const released = s.release(true);
  assert.equal(released.done, false);
  assert.equal(s.held, 1);
});

test('sequencer - with the router unreachable, each gap is lost with its range and the events after it are taken', () => {
  const s = new Sequencer({ epoch: 7, seq: 10 }, 100);
  s.offer(ev(7, 13), false);
  s.offer(ev(7, 17), true);
  const released = s.release(false);
  assert.deepEqual(released.lost, [
    { epoch: 7, from: 11, to: 12, reason: 'replay socket unreachable' },
    { epoch: 7, from: 14, to: 16, reason: 'replay socket unreachable' },
  ]);
  assert.deepEqual(
    released.taken.map((t) => t.event.seq),
    [13, 17],
  );
  assert.equal(released.blind, undefined);
});

test('sequencer - without a position and without the router, the first event is taken blind', () => {
  const s = new Sequencer(undefined, 100);
  s.offer(ev(7, 40), false);
  const released = s.release(false);
  assert.deepEqual(released.blind, { epoch: 7, seq: 40 });
  assert.deepEqual(released.lost, []);
  assert.deepEqual(s.position, { epoch: 7, seq: 40 });
});

test('sequencer - the hold is bounded: beyond it, events during a repair are dropped (fetched again)', () => {
  const s = new Sequencer({ epoch: 7, seq: 10 }, 2);
  s.offer(ev(7, 12), false);
  assert.equal(s.offer(ev(7, 13), true).action, 'hold');
  assert.equal(s.offer(ev(7, 14), true).action, 'drop');
});

test('sequencer - after a memory-journal router restart, the rest of the old epoch is an unknown range, not "nothing lost"', () => {
  const s = new Sequencer({ epoch: 7, seq: 10 }, 100);
  const step = s.applyReplay(reply({ epoch: 8, epoch_changed: true, events: [ev(8, 1), ev(8, 2)] }));
  assert.deepEqual(step.epochChanged, { previous: { epoch: 7, seq: 10 }, epoch: 8 });
  assert.equal(step.lost.length, 1);
  assert.deepEqual({ ...step.lost[0], reason: undefined }, { epoch: 7, from: 11, to: null, reason: undefined });
  assert.match(step.lost[0]!.reason, /router\.journal: memory/);
  assert.deepEqual(s.position, { epoch: 8, seq: 2 });
});

test('sequencer - a Redis journal serves across epochs: the old epoch ends where the next begins, trimmed ranges are named', () => {
  const s = new Sequencer({ epoch: 7, seq: 10 }, 100);
  const step = s.applyReplay(reply({ epoch: 8, journal: 'redis', events: [ev(7, 11), ev(7, 12), ev(8, 1), ev(8, 2)] }));
  assert.deepEqual(step.lost, []);
  assert.deepEqual(
    step.taken.map((t) => [t.event.epoch, t.event.seq]),
    [
      [7, 11],
      [7, 12],
      [8, 1],
      [8, 2],
    ],
  );
  const t = new Sequencer({ epoch: 7, seq: 10 }, 100);
  const trimmed = t.applyReplay(
    reply({
      epoch: 9,
      journal: 'redis',
      missed_ranges: [
        { epoch: 7, from: 11, to: null },
        { epoch: 8, from: 1, to: 4 },
      ],
      events: [ev(8, 5), ev(9, 3)],
    }),
  );
  assert.deepEqual(
    trimmed.lost.map((l) => [l.epoch, l.from, l.to]),
    [
      [7, 11, null],
      [8, 1, 4],
      [9, 1, 2],
    ],
  );
  assert.deepEqual(t.position, { epoch: 9, seq: 3 });
});

test('sequencer - a range the router no longer holds is lost; without a saved cursor it is not', () => {
  const s = new Sequencer({ epoch: 7, seq: 10 }, 100);
  const step = s.applyReplay(reply({ missed: { epoch: 7, from: 11, to: 49 }, events: [ev(7, 50)] }));
  assert.deepEqual(step.lost, [{ epoch: 7, from: 11, to: 49, reason: 'no longer in the router replay buffer' }]);
  assert.deepEqual(s.position, { epoch: 7, seq: 50 });
  const fresh = new Sequencer(undefined, 100);
  const first = fresh.applyReplay(reply({ epoch_changed: true, missed: { epoch: 7, from: 1, to: 49 }, events: [ev(7, 50)] }));
  assert.deepEqual(first.lost, []);
  assert.deepEqual(first.epochChanged, { previous: undefined, epoch: 7 });
});

test('sequencer - any arrival order of one epoch, with replays, takes every event once and in order (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.infiniteStream(fc.boolean()), fc.array(fc.nat(), { maxLength: 40 }), (n, dropStream, order) => {
      // Live arrival: a permutation-ish of 1..n with some dropped; replay fills whatever is missing.
      const seqs = Array.from({ length: n }, (_, i) => i + 1);
      for (let i = 0; i < order.length && seqs.length > 1; i++) {
        const a = order[i]! % seqs.length;
        const b = (a + 1) % seqs.length;
        [seqs[a], seqs[b]] = [seqs[b]!, seqs[a]!];
      }
      const s = new Sequencer({ epoch: 1, seq: 0 }, 1000);
      const taken: number[] = [];
      let repairing = false;
      const dropped = dropStream.take(n);
      let i = 0;
      for (const d of dropped) {
        const seq = seqs[i++]!;
        if (d) continue;
        const decision = s.offer(ev(1, seq), repairing);
        if (decision.action === 'take') taken.push(decision.taken.event.seq);
        if (decision.action === 'hold' && decision.repair) repairing = true;
        if (repairing) {
          // The repair: everything after our position the router holds (all of 1..n here).
          const after = s.position?.seq ?? 0;
          const step = s.applyReplay(reply({ epoch: 1, events: Array.from({ length: n - after }, (_, k) => ev(1, after + k + 1)) }));
          taken.push(...step.taken.map((t) => t.event.seq));
          const released = s.release(true);
          taken.push(...released.taken.map((t) => t.event.seq));
          repairing = !released.done;
        }
      }
      const expectedPrefix = Array.from({ length: taken.length }, (_, k) => k + 1);
      assert.deepEqual(taken, expectedPrefix);
    }),
  );
});
