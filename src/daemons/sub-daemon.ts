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

export interface SubDaemon extends Daemon {
  subscriber: Subscriber;
  archive: MongoArchive;
}

/** Load event-handlers.json, connect MongoDB and Redis, then subscribe. */
export async function startSubDaemon(settings: ReactorSettings, log: Logger): Promise<SubDaemon> {
  const slog = log.child({ component: 'sub' });
  const { table, warnings } = loadHandlersFile(settings.handlersFile);
  for (const w of warnings) slog.warn({ file: w.file, key: w.path }, w.message);
  const closers = new CloserStack(slog);
  try {
    const archive = await MongoArchive.connect({ url: settings.mongo.url, database: settings.mongo.database, log: slog });
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
    return { name: 'sub', registry, subscriber, archive, close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
