import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StoredEvent } from '../../src/archive/archive.js';
import { finalResults, handlerDecisions } from '../../src/archive/final-results.js';
import { waitFinalResults } from '../../src/archive/wait-final-results.js';
import type { HandlerResult } from '../../src/handlers/result.js';

const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

function result(handlerId: string, run: number, status: HandlerResult['status'], dead = false): HandlerResult {
  return {
    _id: `e1.${handlerId}#${run}`,
    event_id: 'e1',
    handler_id: handlerId,
    handler: `h-${handlerId}`,
    run,
    attempt: run,
    status,
    dead,
    start: at(run),
    end: at(run + 1),
  } as HandlerResult;
}

function stored(decisions?: unknown[]): StoredEvent {
  return { _id: 'e1', key: 'local:x', time: at(0), received_at: at(0), ...(decisions ? { decisions } : {}) };
}

test('final results - an ok run or a dead run is final; a failed attempt with retries left is not; the latest final run stands', () => {
  const got = finalResults([
    result('a', 1, 'error'),
    result('b', 1, 'error'),
    result('b', 2, 'timeout', true),
    result('c', 1, 'error', true),
    result('c', 2, 'ok'),
  ]);
  assert.deepEqual(
    got.map((r) => r._id),
    ['e1.b#2', 'e1.c#2'],
  );
});

test('final results - the decisions name the handler entries, correlation records left out; none recorded is told apart from none matched', () => {
  const ds = handlerDecisions(
    stored([
      { key: 'local:x', handler: 'a.sh', id: 'a', run: true },
      { key: 'local:*', handler: 'b.sh', id: 'b', run: false, stage: 'when', reason: 'payload.n is 1, expected [2]' },
      { correlation: 'pair', emit: 'local:pair', id: 'cor-1', correlated: ['e0', 'e1'] },
    ]),
  );
  assert.deepEqual(
    ds?.map((d) => [d.id, d.run]),
    [
      ['a', true],
      ['b', false],
    ],
  );
  assert.deepEqual(handlerDecisions(stored([])), []);
  assert.equal(handlerDecisions(stored()), undefined);
});

test('final results - the wait waits for the event to be archived, then for each handler that runs, and names those left at the deadline', async () => {
  let eventReads = 0;
  let resultReads = 0;
  const archive = {
    getEvent: async () =>
      ++eventReads < 3
        ? undefined
        : stored([
            { key: 'local:x', handler: 'a.sh', id: 'a', run: true },
            { key: 'local:x', handler: 'b.sh', id: 'b', run: true, stage: 'debounce', delay_ms: 60_000 },
            { key: 'local:x', handler: 'c.sh', id: 'c', run: false, stage: 'throttle', reason: 'ran 1 time in 60 s' },
          ]),
    finalResults: async () => (++resultReads < 3 ? [] : [result('a', 1, 'ok'), result('c', 1, 'ok')]),
  };
  const found: string[] = [];
  const wait = await waitFinalResults(archive, 'e1', { deadline: Date.now() + 300, pollMs: 5, maxPollMs: 20, onFinal: (r) => found.push(r.handler_id) });
  assert.equal(wait.archived, true);
  assert.deepEqual(found, ['a'], 'each final result reported once, only for handlers that run');
  assert.deepEqual(
    wait.waiting.map((d) => d.id),
    ['b'],
  );
});

test('final results - an event never archived ends the wait at the deadline', async () => {
  const started = Date.now();
  const wait = await waitFinalResults({ getEvent: async () => undefined, finalResults: async () => [] }, 'e1', { deadline: started + 100, pollMs: 10 });
  assert.equal(wait.archived, false);
  assert.ok(Date.now() - started >= 100 && Date.now() - started < 1000);
});
