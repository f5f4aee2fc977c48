import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { loadHandlersFile } from '../../src/config/handlers-file.js';
import { ResultWriter } from '../../src/archive/result-writer.js';
import { ShellDriver } from '../../src/handlers/shell-driver.js';
import { TsfuncDriver } from '../../src/handlers/tsfunc-driver.js';
import { HandlerWorker } from '../../src/queue/handler-worker.js';
import { HandlerEnvironment, baseEnvironment } from '../../src/handlers/handler-env.js';
import { PyfuncDriver } from '../../src/handlers/pyfunc-driver.js';
import { WebhookDriver } from '../../src/handlers/webhook-driver.js';
import { AmqpDriver } from '../../src/handlers/amqp-driver.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { silentLogger } from '../../src/logger.js';
import { createRegistry } from '../../src/metrics.js';
import { uniqueName, useServices } from '../helpers/services.js';
import { sampleEvent } from '../helpers/events.js';
import { eventually, writeTestConfig, type TestConfig } from '../helpers/config.js';

// Registered before useServices() so it runs before the test servers are stopped.
after(async () => {
  await worker?.close();
  await queue?.close();
});
const services = useServices();
let cfg: TestConfig;
let queue: JobQueue;
let worker: HandlerWorker | undefined;

// Runs for payload.ms. tsfunc handlers run in the worker's handler thread, so when each
// run started and ended is read from its result (start, end), not from shared memory.
const PROBE = `export async function run(event: { payload: { ms: number } }): Promise<null> {
  await new Promise((r) => setTimeout(r, event.payload.ms));
  return null;
}
`;

before(async () => {
  cfg = await writeTestConfig({
    redisUrl: await services.redisUrl(),
    mongoUrl: await services.mongoUrl(),
    handlers: { 'local:conc.probe': [{ driver: 'tsfunc', handler: 'probe.run', retries: 0 }] },
    files: { 'probe.ts': PROBE },
    extra: { worker: { concurrency: 2, timeout: 20 } },
  });
  queue = new JobQueue({ redisUrl: cfg.settings.redisUrl, queue: cfg.settings.queue, log: silentLogger(), defaults: { retries: 0, backoffMs: 0 } });
  await queue.start();
});

test('worker concurrency - while a result waits to be stored, its job holds no handler slot; handlers still run at most concurrency at a time', async () => {
  // Each insert into this archive takes 300 ms; stored[event id] = when its result was stored.
  const stored = new Map<string, number>();
  const ran = new Map<string, { start: number; end: number }>();
  const results = new ResultWriter({
    archive: {
      insertResults: async (rs) => {
        await new Promise((r) => setTimeout(r, 300));
        for (const r of rs) {
          stored.set(r.event_id, Date.now());
          ran.set(r.event_id, { start: r.start.getTime(), end: r.end.getTime() });
        }
      },
      findOkResult: async () => undefined,
    },
    log: silentLogger(),
  });
  const opts = { handlersDir: cfg.handlersDir, outputLimitBytes: 65_536 };
  worker = new HandlerWorker({
    redisUrl: cfg.settings.redisUrl,
    queue: cfg.settings.queue,
    settings: cfg.settings.worker,
    drivers: {
      shell: new ShellDriver(opts),
      tsfunc: new TsfuncDriver(opts),
      pyfunc: new PyfuncDriver({ ...opts, env: {}, python: cfg.settings.worker.python }),
      webhook: new WebhookDriver({ outputLimitBytes: 65_536, userAgent: 'test' }),
      amqp: new AmqpDriver(),
    },
    environment: new HandlerEnvironment(baseEnvironment(process.env), cfg.dir),
    results,
    fire: () => Promise.reject(new Error('no router in this test')),
    rules: () => loaded.rules,
    log: silentLogger(),
    registry: createRegistry('worker'),
  });
  const loaded = loadHandlersFile(cfg.settings.handlersFile);
  const spec = loaded.table.get('local:conc.probe')![0]!;
  // Concurrency 2: ev1 (10 ms) and ev2 (150 ms) start together; ev1's result is stored
  // first, alone, and ev2's waits for that insert, then takes 300 ms of its own.
  const ids = ['ev1', 'ev2', 'ev3', 'ev4', 'ev5', 'ev6'].map((n) => ({ n, id: uniqueName(n) }));
  const ms: Record<string, number> = { ev1: 10, ev2: 150 };
  await queue.addBulk(
    ids.map(({ n, id }) => ({ event: sampleEvent({ id, trace_id: id, event_type: 'conc.probe', payload: { ms: ms[n] ?? 10 } }), handler: spec })),
  );
  worker.start();

  await eventually(async () => stored.size === ids.length, 'every result stored');
  const [, ev2, ev3, ev4] = ids.map(({ id }) => id);
  const started = new Map([...ran].map(([id, r]) => [id, r.start]));
  // The most runs under way at once: at each start, the runs that started and had not ended.
  const most = Math.max(...[...ran.values()].map((a) => [...ran.values()].filter((b) => b.start <= a.start && b.end > a.start).length));
  // ev3 follows ev1 as before. ev4 would have waited for ev2's job to complete (its
  // result stored); it ran meanwhile, in the slot ev2's handler gave back.
  assert.ok(started.get(ev3!)! < stored.get(ev2!)!, 'ev3 started while ev2 waited for its result');
  assert.ok(started.get(ev4!)! < stored.get(ev2!)!, 'ev4 started while ev2 waited for its result: ev2 held no handler slot');
  assert.ok(most <= 2, `at most 2 handlers at once, saw ${most}`);
  for (const { id } of ids) assert.ok(stored.get(id)! >= started.get(id)!, `${id} stored after it ran`);
});
