import type { Logger } from '../logger.js';
import { createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { TransportError } from '../errors.js';
import { MongoArchive } from '../archive/mongo-archive.js';
import { ResultWriter } from '../archive/result-writer.js';
import { RouterClient } from '../client/router-client.js';
import { CloserStack } from '../lifecycle/closers.js';
import type { FireFunction } from '../handlers/driver.js';
import { ShellDriver } from '../handlers/shell-driver.js';
import { TsfuncDriver } from '../handlers/tsfunc-driver.js';
import { HandlerWorker } from '../queue/handler-worker.js';
import type { Daemon } from './daemon.js';

export interface WorkerDaemon extends Daemon {
  worker: HandlerWorker;
}

/** Connect MongoDB, then run BullMQ workers for handler jobs. */
export async function startWorkerDaemon(settings: ReactorSettings, log: Logger): Promise<WorkerDaemon> {
  const wlog = log.child({ component: 'worker' });
  const closers = new CloserStack(wlog);
  try {
    const archive = await MongoArchive.connect({ url: settings.mongo.url, database: settings.mongo.database, log: wlog });
    closers.push('archive', () => archive.close());
    const routerUri = settings.worker.routerUri;
    const client = routerUri ? new RouterClient({ uri: routerUri, timeoutMs: 10_000, retries: 2 }) : undefined;
    if (client) closers.push('router client', () => client.close());
    const fire: FireFunction = (event) => {
      if (!client) return Promise.reject(new TransportError('no router REP endpoint configured (worker.router_uri or a ZMQInput feeder)'));
      return client.send(event);
    };
    const opts = { handlersDir: settings.handlersDir, outputLimitBytes: settings.worker.outputLimitBytes };
    const registry = createRegistry('worker');
    const worker = new HandlerWorker({
      redisUrl: settings.redisUrl,
      queue: settings.queue,
      settings: settings.worker,
      drivers: { shell: new ShellDriver(opts), tsfunc: new TsfuncDriver(opts) },
      // Jobs wait for their result to be stored before they complete, so a long batching
      // delay would idle every concurrency slot: 2 ms, then group commit (see Batcher).
      results: new ResultWriter({ archive, log: wlog, maxDelayMs: 2 }),
      fire,
      log: wlog,
      registry,
    });
    worker.start();
    closers.push('worker', () => worker.close());
    return { name: 'worker', registry, worker, close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
