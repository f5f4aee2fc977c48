import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerPathCache } from '../../src/handlers/handler-path.js';
import { HandlerRefusedError } from '../../src/errors.js';

function handlerDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'er-hp-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'a.sh'), '#!/bin/sh\n', { mode: 0o755 });
  return dir;
}

test('handler path cache - an answer is kept for the TTL, then looked up again', () => {
  const dir = handlerDir();
  const kept = new HandlerPathCache(60_000);
  const fresh = new HandlerPathCache(0);
  assert.equal(kept.resolve(dir, 'a.sh', 'cmd'), join(dir, 'a.sh'));
  assert.equal(fresh.resolve(dir, 'a.sh', 'cmd'), join(dir, 'a.sh'));
  rmSync(join(dir, 'a.sh'));
  assert.equal(kept.resolve(dir, 'a.sh', 'cmd'), join(dir, 'a.sh'), 'within the TTL');
  assert.equal(fresh.resolve(dir, 'a.sh', 'cmd'), undefined, 'after the TTL');
});

test('handler path cache - refusals are never kept', () => {
  const dir = handlerDir();
  const cache = new HandlerPathCache(60_000);
  symlinkSync('/bin/sh', join(dir, 'escape'));
  assert.throws(() => cache.resolve(dir, 'escape', 'cmd'), HandlerRefusedError);
  assert.throws(() => cache.resolve(dir, 'escape', 'cmd'), /outside the handler directory/);
  assert.throws(() => cache.resolve(dir, '../x', 'cmd'), HandlerRefusedError);
});
