import type { Logger } from '../logger.js';
import { createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { TransportError } from '../errors.js';
import { MongoArchive } from '../archive/mongo-archive.js';
import { ResultWriter } from '../archive/result-writer.js';
import { RouterClient } from '../wire/router-client.js';
import { CloserStack } from '../lifecycle/closers.js';
import type { FireFunction } from '../handlers/driver.js';
import { HandlersReloader } from '../config/handlers-reloader.js';
import { RuleState, rulesPrefix } from '../rule-state/rule-state.js';
import { ShellDriver } from '../handlers/shell-driver.js';
import { TsfuncDriver } from '../handlers/tsfunc-driver.js';
import { PyfuncDriver } from '../handlers/pyfunc-driver.js';
import { WebhookDriver } from '../handlers/webhook-driver.js';
import { AmqpDriver } from '../handlers/amqp-driver.js';
import { HandlerEnvironment, baseEnvironment } from '../handlers/handler-env.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerWorker } from '../queue/handler-worker.js';
import { startActors } from './worker-actors.js';
import type { Daemon } from './daemon.js';
import { clientKeysFor } from '../security/key-files.js';
import { Gauge } from 'prom-client';
import { QueueCounter } from '../queue/queue-counts.js';
import type { OpsServer } from '../http/ops-server.js';
import { startOps } from './ops.js';
import { settlesWithin } from '../lifecycle/settles-within.js';

export interface WorkerDaemon extends Daemon {
  worker: HandlerWorker;
  /** Its metrics and health endpoints. */
  http: OpsServer;
}

/** How long a shutdown waits for results still being written. */
const RESULTS_DRAIN_MS = 3000;

/** Connect MongoDB, then run BullMQ workers for handler jobs. */
export async function startWorkerDaemon(settings: ReactorSettings, log: Logger): Promise<WorkerDaemon> {
  const wlog = log.child({ component: 'worker' });
  const closers = new CloserStack(wlog);
  try {
    const archive = await MongoArchive.connect({ ...settings.mongo, readPreference: 'primary', log: wlog, retention: settings.retention });
    closers.push('archive', () => archive.close());
    const routerUri = settings.worker.routerUri;
    const client = routerUri ? new RouterClient({ uri: routerUri, timeoutMs: 10_000, retries: 2, curve: clientKeysFor(settings.security) }) : undefined;
    if (client) closers.push('router client', () => client.close());
    const fire: FireFunction = (event) => {
      if (!client) return Promise.reject(new TransportError('no router REP endpoint configured (worker.router_uri or a ZMQInput feeder)'));
      return client.send(event);
    };
    // Handlers get a TMPDIR of their own (random name, mode 0700, removed at shutdown): a
    // predictable shared /tmp path (tsx's compile cache) could be planted by another user.
    const tmpDir = await mkdtemp(join(tmpdir(), 'event-reactor-handlers-'));
    closers.push('handler temp dir', () => rm(tmpDir, { recursive: true, force: true }));
    const base = baseEnvironment(process.env, tmpDir);
    const environment = new HandlerEnvironment(base, settings.secretsDir);
    const opts = { handlersDir: settings.handlersDir, outputLimitBytes: settings.worker.outputLimitBytes };
    const tsfunc = new TsfuncDriver({ ...opts, env: base });
    closers.push('tsfunc threads', () => tsfunc.close());
    const pyfunc = new PyfuncDriver({ ...opts, env: base, python: settings.worker.python });
    closers.push('pyfunc interpreter', () => pyfunc.close());
    const amqp = new AmqpDriver();
    closers.push('amqp connections', () => amqp.close());
    const webhook = new WebhookDriver({ outputLimitBytes: settings.worker.outputLimitBytes, userAgent: 'event-reactor' });
    const registry = createRegistry('worker');
    const handlers = new HandlersReloader({ file: settings.handlersFile, dir: settings.handlersDir, log: wlog, registry });
    handlers.start();
    closers.push('handler table watch', () => handlers.close());
    const state = new RuleState({ redisUrl: settings.redisUrl, prefix: rulesPrefix(settings.queue.name) });
    closers.push('rules state', () => state.close());
    // Queue depth and dead letters, read from Redis at each scrape.
    const counter = new QueueCounter(settings.redisUrl, settings.queue, 2000);
    closers.push('queue counter', () => counter.close());
    new Gauge({
      name: 'queue_jobs',
      help: 'Handler jobs by queue and state (failed: the dead-letter queue), read at each scrape',
      labelNames: ['queue', 'state'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const [queue, byState] of Object.entries(await counter.counts().catch(() => ({})))) {
          for (const [state, n] of Object.entries(byState)) this.set({ queue, state }, n);
        }
      },
    });
    // Jobs wait for their result to be stored before they complete, so a long batching
    // delay would idle every concurrency slot: 2 ms, then group commit (see Batcher).
    const results = new ResultWriter({ archive, log: wlog, maxDelayMs: 2 });
    // Closed after the worker, before the archive: results still being written (a
    // shutdown does not wait for the record of an aborted run) are stored first.
    closers.push('results', async () => {
      if (!(await settlesWithin(results.drain(), RESULTS_DRAIN_MS)))
        wlog.warn({ waitedMs: RESULTS_DRAIN_MS }, 'results of aborted runs not stored (MongoDB unreachable); their jobs were requeued');
    });
    const worker = new HandlerWorker({
      redisUrl: settings.redisUrl,
      queue: settings.queue,
      settings: settings.worker,
      drivers: { shell: new ShellDriver(opts), tsfunc, pyfunc, webhook, amqp },
      environment,
      results,
      fire,
      rules: () => handlers.rules,
      state,
      log: wlog,
      registry,
      actor: settings.worker.actor,
    });
    // Heartbeat (an actor worker) and the watch over absent actors' queues (every worker);
    // closed after the worker, so an actor is live until it takes no more jobs.
    await startActors(settings, results, registry, wlog, closers);
    worker.start();
    closers.push('worker', () => worker.close());
    const http = await startOps(
      'worker',
      settings,
      registry,
      [
        { name: 'redis', check: () => worker.ping() },
        { name: 'mongodb', check: () => archive.ping() },
      ],
      wlog,
      closers,
      { info: () => ({ handlers: handlers.hash }) },
    );
    return { name: 'worker', registry, worker, http, reload: () => void handlers.reload('SIGHUP'), close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
