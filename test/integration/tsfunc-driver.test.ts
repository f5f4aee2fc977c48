import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TsfuncDriver } from '../../src/handlers/tsfunc-driver.js';
import type { HandlerSpec } from '../../src/handlers/spec.js';
import { runContext, sampleEvent } from '../helpers/events.js';
import { eventually } from '../helpers/config.js';
import { pino } from 'pino';
import type { Logger } from '../../src/logger.js';

function setupDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'er-tsfunc-'));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  return dir;
}

const drivers: TsfuncDriver[] = [];
after(() => Promise.all(drivers.map((d) => d.close())));

function setup(files: Record<string, string>): TsfuncDriver {
  const driver = new TsfuncDriver({ handlersDir: setupDir(files), outputLimitBytes: 200 });
  drivers.push(driver);
  return driver;
}

/** A logger that keeps every line it is given. */
function capturingLogger(into: unknown[]): Logger {
  return pino({ level: 'trace' }, { write: (line: string) => void into.push(JSON.parse(line)) });
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
      'export function wait(_e: unknown, ctx: { signal: AbortSignal; log: { warn(o: object, m: string): void } }): Promise<void> { return new Promise((resolve) => ctx.signal.addEventListener("abort", () => { ctx.log.warn({ reason: String(ctx.signal.reason) }, "abort seen"); resolve(); })); }\n',
  });
  const seen: unknown[] = [];
  const log = capturingLogger(seen);
  const out = await driver.run(spec('slow.wait'), sampleEvent(), runContext({ timeoutMs: 100, log }));
  assert.equal(out.status, 'timeout');
  assert.match(out.error!, /timed out after 100 ms/);
  await eventually(async () => seen.some((l) => (l as { msg?: string }).msg === 'abort seen'), 'the handler saw its signal aborted');
  await driver.close();
});

test('tsfunc driver - a function that never yields is terminated with its thread, and the module runs again after', async () => {
  const driver = setup({ 'spin.ts': 'export function forever(): void { for (;;) {} }\nexport function ok(): string { return "fine"; }\n' });
  const started = Date.now();
  const out = await driver.run(spec('spin.forever'), sampleEvent(), runContext({ timeoutMs: 200 }));
  assert.equal(out.status, 'timeout');
  assert.match(out.error!, /thread terminated/);
  assert.ok(Date.now() - started < 5000, 'the worker was not stuck with it');
  const next = await driver.run(spec('spin.ok'), sampleEvent(), runContext());
  assert.deepEqual([next.status, next.data], ['ok', 'fine']);
  await driver.close();
});

test('tsfunc driver - a function past its run cannot fire(): the event is refused, not sent', async () => {
  const driver = setup({
    'late.ts':
      'export async function fireLate(_e: unknown, ctx: { signal: AbortSignal; fire(e: object): Promise<unknown>; log: { info(o: object, m: string): void } }): Promise<void> { await new Promise((r) => ctx.signal.addEventListener("abort", r)); try { await ctx.fire({ event_type: "too.late" }); ctx.log.info({}, "fired"); } catch (err) { ctx.log.info({ err: String(err) }, "fire refused"); } }\n',
  });
  const seen: unknown[] = [];
  const ctx = runContext({ timeoutMs: 100, log: capturingLogger(seen) });
  const out = await driver.run(spec('late.fireLate'), sampleEvent(), ctx);
  assert.equal(out.status, 'timeout');
  await eventually(async () => seen.some((l) => (l as { msg?: string }).msg === 'fire refused'), 'the late fire() was refused');
  assert.deepEqual(ctx.fired, []);
  await driver.close();
});

test('tsfunc driver - the thread sees only the environment it is given; ctx.env carries the run environment', async () => {
  const driver = new TsfuncDriver({
    handlersDir: setupDir({
      'env.ts':
        'export function show(_e: unknown, ctx: { env: Record<string, string> }) { return { proc: Object.keys(process.env).sort(), run: ctx.env["API_TOKEN"] ?? null }; }\n',
    }),
    outputLimitBytes: 10_000,
    env: { PATH: '/usr/bin:/bin' },
  });
  process.env['MONGO_URL_TEST_LEAK'] = 'mongodb://user:pw@x';
  try {
    const out = await driver.run(spec('env.show'), sampleEvent(), runContext({ env: { API_TOKEN: 't0ken' } }));
    assert.deepEqual(out.data, { proc: ['PATH'], run: 't0ken' });
  } finally {
    delete process.env['MONGO_URL_TEST_LEAK'];
    await driver.close();
  }
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
