import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarise } from '../../src/archive/mongo-queries.js';
import type { HandlerResult } from '../../src/handlers/result.js';

const run = (handler_id: string, start: number, status: string, dead = false): HandlerResult =>
  ({ handler: `h-${handler_id}`, handler_id, status, start: new Date(start), ...(dead ? { dead: true } : {}) }) as unknown as HandlerResult;

test('event summary - a dead letter retried until it ran ok counts as ok, with both runs counted', () => {
  const s = summarise([run('a', 1, 'error', true), run('a', 2, 'ok')]);
  assert.equal(s.outcome, 'ok');
  assert.deepEqual(
    s.handlers.map((h) => [h.status, h.dead, h.runs]),
    [['ok', false, 2]],
  );
});

test('event summary - the latest run of each handler decides: dead beats error beats ok; none without runs', () => {
  assert.equal(summarise([run('a', 2, 'ok'), run('b', 1, 'error', true)]).outcome, 'dead');
  assert.equal(summarise([run('a', 1, 'ok'), run('b', 1, 'timeout')]).outcome, 'error');
  assert.equal(summarise([run('a', 3, 'error'), run('a', 2, 'ok')]).outcome, 'error');
  assert.equal(summarise([]).outcome, 'none');
});
