import type { Logger } from '../logger.js';
import { createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { loadHandlersFile } from '../config/handlers-file.js';
import { MongoArchive } from '../archive/mongo-archive.js';
import { JobQueue } from '../queue/job-queue.js';
import { CloserStack } from '../lifecycle/closers.js';
import { Matcher } from '../sub/matcher.js';
import { Subscriber } from '../sub/subscriber.js';
import type { Daemon } from './daemon.js';
import { clientKeysFor } from '../security/key-files.js';
import type { OpsServer } from '../http/ops-server.js';
import { ReplayClient } from '../wire/replay-client.js';
import { startOps } from './ops.js';

export interface SubDaemon extends Daemon {
  subscriber: Subscriber;
  archive: MongoArchive;
  /** Its metrics and health endpoints. */
  http: OpsServer;
}

/** Load event-handlers.json, connect MongoDB and Redis, then subscribe. */
export async function startSubDaemon(settings: ReactorSettings, log: Logger): Promise<SubDaemon> {
  const slog = log.child({ component: 'sub' });
  const { table, warnings } = loadHandlersFile(settings.handlersFile);
  for (const w of warnings) slog.warn({ file: w.file, key: w.path }, w.message);
  const closers = new CloserStack(slog);
  try {
    const archive = await MongoArchive.connect({ url: settings.mongo.url, database: settings.mongo.database, log: slog, retention: settings.retention });
    closers.push('archive', () => archive.close());
    const queue = new JobQueue({
      redisUrl: settings.redisUrl,
      queue: settings.queue,
      log: slog,
      defaults: { retries: settings.worker.retries, backoffMs: settings.worker.backoffMs },
    });
    closers.push('queue', () => queue.close());
    await queue.start();
    const registry = createRegistry('sub');
    const subscriber = new Subscriber({ settings: settings.sub, matcher: new Matcher(table), archive, queue, log: slog, registry });
    closers.push('subscriber', () => subscriber.close());
    await subscriber.start();
    // Readiness asks the router on a socket of its own: the subscriber's replay client may
    // be busy with a long catch-up.
    const probe = new ReplayClient(settings.sub.replayUri, 1000, clientKeysFor(settings.security));
    closers.push('router probe', () => probe.close());
    const http = await startOps(
      'sub',
      settings,
      registry,
      [
        { name: 'router', check: async () => void (await probe.status()) },
        { name: 'mongodb', check: () => archive.ping() },
        { name: 'redis', check: () => queue.ping() },
      ],
      slog,
      closers,
    );
    return { name: 'sub', registry, subscriber, archive, http, close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
