import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsfuncDriver } from '../../src/handlers/tsfunc-driver.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { runContext, sampleEvent } from '../helpers/events.js';

function setup(files: Record<string, string>): TsfuncDriver {
  const dir = mkdtempSync(join(tmpdir(), 'er-tsfunc-'));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  return new TsfuncDriver({ handlersDir: dir, outputLimitBytes: 200 });
}

const spec = (command: string): HandlerSpec => ({ id: 'h', key: 'local:zmq.test', driver: 'tsfunc', command, exclusive: false });

test('tsfunc driver - runs a TypeScript function without a build step and keeps its return value', async () => {
  const driver = setup({
    'greet.ts': `interface E { payload: { msg: string }; event_type: string }\nexport async function hello(e: E, ctx: { attempt: number }): Promise<{ said: string; attempt: number }> {\n  return { said: e.payload.msg.toUpperCase(), attempt: ctx.attempt };\n}\n`,
  });
  const out = await driver.run(spec('greet.hello'), sampleEvent(), runContext({ attempt: 2 }));
  assert.equal(out.status, 'ok');
  assert.deepEqual(out.data, { said: 'HI', attempt: 2 });
});

test('tsfunc driver - .mjs modules in subdirectories work and fire() reaches the context', async () => {
  const driver = setup({
    'ops/chain.mjs': 'export async function next(e, ctx) { const f = await ctx.fire({ event_type: e.event_type + ".next" }); return f.id; }\n',
  });
  const ctx = runContext();
  const out = await driver.run(spec('ops/chain.next'), sampleEvent(), ctx);
  assert.equal(out.status, 'ok');
  assert.equal(out.data, 'fired-1');
  assert.deepEqual(ctx.fired, [{ event_type: 'zmq.test.next' }]);
});

test('tsfunc driver - a thrown error becomes an error result with its message', async () => {
  const driver = setup({ 'bad.ts': 'export function boom(): never { throw new Error("no route to host"); }\n' });
  const out = await driver.run(spec('bad.boom'), sampleEvent(), runContext());
  assert.equal(out.status, 'error');
  assert.equal(out.error, 'no route to host');
  assert.match(out.stderr!, /no route to host/);
});

test('tsfunc driver - timeout aborts the signal and reports timeout', async () => {
  const driver = setup({
    'slow.ts':
      'export function wait(_e: unknown, ctx: { signal: AbortSignal }): Promise<void> { return new Promise((resolve) => ctx.signal.addEventListener("abort", () => { (globalThis as Record<string, unknown>).erAbortSeen = ctx.signal.reason; resolve(); })); }\n',
  });
  const seen = globalThis as Record<string, unknown>;
  delete seen['erAbortSeen'];
  const out = await driver.run(spec('slow.wait'), sampleEvent(), runContext({ timeoutMs: 100 }));
  assert.ok(seen['erAbortSeen'] !== undefined, 'the handler saw its signal aborted');
  assert.equal(out.status, 'timeout');
  assert.match(out.error!, /timed out after 100 ms/);
});

test('tsfunc driver - missing module, missing function and large results are explained', async () => {
  const driver = setup({ 'm.ts': 'export function a() { return "x".repeat(1000); }\nexport const notFn = 1;\n' });
  const noMod = await driver.run(spec('nope.a'), sampleEvent(), runContext());
  assert.equal(noMod.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(noMod.error!, /module "nope" not found/);
  const noFn = await driver.run(spec('m.b'), sampleEvent(), runContext());
  assert.match(noFn.error!, /no exported function "b" \(functions it exports: a\)/);
  const big = await driver.run(spec('m.a'), sampleEvent(), runContext());
  assert.equal(big.status, 'ok');
  assert.equal(big.dataTruncated, true);
  assert.equal(String(big.data).length, 200);
});

test('tsfunc driver - a module path that escapes the handler directory is refused', async () => {
  const driver = setup({});
  const out = await driver.run(spec('../../etc/passwd.x'), sampleEvent(), runContext());
  assert.equal(out.status, 'error');
  assert.equal(out.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(out.error!, /outside the handler directory/);
});
