import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missedRanges } from '../../src/router/journal-missed.js';

const ends = (o: Record<number, number>): Map<number, number> => new Map(Object.entries(o).map(([k, v]) => [Number(k), v]));
const current = { epoch: 30, seq: 9 };

test('journal-missed - a position the journal still holds, or a later one, misses nothing', () => {
  const extent = { first: { epoch: 20, seq: 5 }, ends: ends({ 20: 40, 30: 9 }) };
  assert.deepEqual(missedRanges(extent, current, 20, 4), []);
  assert.deepEqual(missedRanges(extent, current, 20, 30), []);
  assert.deepEqual(missedRanges(extent, current, 30, 2), []);
});

test('journal-missed - the trimmed start of the same epoch is one exact range', () => {
  const extent = { first: { epoch: 20, seq: 5 }, ends: ends({ 20: 40 }) };
  assert.deepEqual(missedRanges(extent, current, 20, 1), [{ epoch: 20, from: 2, to: 4 }]);
});

test('journal-missed - older epochs are counted to their recorded ends, whole epochs between included', () => {
  const extent = { first: { epoch: 30, seq: 3 }, ends: ends({ 10: 50, 20: 7, 25: 0, 30: 9 }) };
  assert.deepEqual(missedRanges(extent, current, 10, 45), [
    { epoch: 10, from: 46, to: 50 },
    { epoch: 20, from: 1, to: 7 },
    { epoch: 30, from: 1, to: 2 },
  ]);
  // The subscriber had seen all of epoch 10: nothing of it is missed.
  assert.deepEqual(missedRanges(extent, current, 10, 50), [
    { epoch: 20, from: 1, to: 7 },
    { epoch: 30, from: 1, to: 2 },
  ]);
});

test('journal-missed - an epoch whose end was never recorded is a range of unknown end', () => {
  const extent = { first: { epoch: 30, seq: 1 }, ends: ends({ 30: 9 }) };
  assert.deepEqual(missedRanges(extent, current, 10, 45), [{ epoch: 10, from: 46, to: null }]);
});

test('journal-missed - an empty journal (Redis lost its data) stands at the router position', () => {
  assert.deepEqual(missedRanges({ ends: ends({}) }, current, 30, 2), [{ epoch: 30, from: 3, to: 9 }]);
  assert.deepEqual(missedRanges({ ends: ends({}) }, current, 30, 9), []);
  assert.deepEqual(missedRanges({ ends: ends({}) }, current, 10, 4), [
    { epoch: 10, from: 5, to: null },
    { epoch: 30, from: 1, to: 9 },
  ]);
});
