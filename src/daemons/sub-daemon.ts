import type { Logger } from '../logger.js';
import { createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { HandlersReloader } from '../config/handlers-reloader.js';
import { RuleState, rulesPrefix } from '../rule-state/rule-state.js';
import { RuleDecider, type EmittedEvent } from '../sub/rule-decider.js';
import { RouterClient } from '../wire/router-client.js';
import { MongoArchive } from '../archive/mongo-archive.js';
import { JobQueue } from '../queue/job-queue.js';
import { CloserStack } from '../lifecycle/closers.js';
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
  const registry = createRegistry('sub');
  // Loaded first: a broken file stops the start before anything connects.
  const handlers = new HandlersReloader({ file: settings.handlersFile, dir: settings.handlersDir, log: slog, registry });
  const closers = new CloserStack(slog);
  try {
    handlers.start();
    closers.push('handler table watch', () => handlers.close());
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
    const state = new RuleState({ redisUrl: settings.redisUrl, prefix: rulesPrefix(settings.queue.name) });
    closers.push('rules state', () => state.close());
    // Correlations fire their events through the router's REP socket, as handlers do.
    const routerUri = settings.worker.routerUri;
    const client = routerUri ? new RouterClient({ uri: routerUri, timeoutMs: 10_000, retries: 2, curve: clientKeysFor(settings.security) }) : undefined;
    if (client) closers.push('router client', () => client.close());
    const rules = new RuleDecider({ table: () => handlers.rules, state, log: slog, registry });
    const subscriber = new Subscriber({
      settings: settings.sub,
      rules,
      ...(client ? { emit: (e: EmittedEvent) => client.send(e) } : {}),
      curve: clientKeysFor(settings.security),
      archive,
      queue,
      log: slog,
      registry,
    });
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
      { info: () => ({ handlers: handlers.hash }) },
    );
    return { name: 'sub', registry, subscriber, archive, http, reload: () => void handlers.reload('SIGHUP'), close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
