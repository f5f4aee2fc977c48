import type { Logger } from '../logger.js';
import { createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { HandlersReloader } from '../config/handlers-reloader.js';
import { RuleState, rulesPrefix } from '../rule-state/rule-state.js';
import { RuleDecider, type EmittedEvent } from '../sub/rule-decider.js';
import { RouterClient } from '../wire/router-client.js';
import { MongoArchive } from '../archive/mongo-archive.js';
import { JobQueue } from '../queue/job-queue.js';
import { ActorRegistry } from '../queue/actor-registry.js';
import { CloserStack } from '../lifecycle/closers.js';
import { Subscriber, subscriberMetrics } from '../sub/subscriber.js';
import { Gauge, type Registry } from 'prom-client';
import type { Daemon } from './daemon.js';
import { TransportError } from '../errors.js';
import { clientKeysFor } from '../security/key-files.js';
import type { OpsServer } from '../http/ops-server.js';
import { ReplayClient } from '../wire/replay-client.js';
import { startOps } from './ops.js';

export interface SubDaemon extends Daemon {
  /** The subscriber of the first router. */
  subscriber: Subscriber;
  /** One per router (`subscriber.routers`). */
  subscribers: Subscriber[];
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
    const archive = await MongoArchive.connect({ ...settings.mongo, readPreference: 'primary', log: slog, retention: settings.retention });
    closers.push('archive', () => archive.close());
    const queue = new JobQueue({
      redisUrl: settings.redisUrl,
      queue: settings.queue,
      log: slog,
      defaults: { retries: settings.worker.retries, backoffMs: settings.worker.backoffMs },
      wait: settings.redisWait,
    });
    closers.push('queue', () => queue.close());
    await queue.start();
    const state = new RuleState({ redisUrl: settings.redisUrl, prefix: rulesPrefix(settings.queue.name) });
    closers.push('rules state', () => state.close());
    const curve = clientKeysFor(settings.security);
    // Correlations fire their events through the router's REP socket, as handlers do.
    const routerUri = settings.worker.routerUri;
    const client = routerUri ? new RouterClient({ uri: routerUri, timeoutMs: 10_000, retries: 2, curve }) : undefined;
    if (client) closers.push('router client', () => client.close());
    // `"target": "all"`: the actors live when an event is decided.
    const actors = new ActorRegistry({ redisUrl: settings.redisUrl, queue: settings.queue });
    closers.push('actor registry', () => actors.close());
    const rules = new RuleDecider({ table: () => handlers.rules, state, log: slog, registry, liveActors: () => actors.liveCached() });
    // One subscriber per router, each with its own cursor; they share the archive, the
    // queue, the rules and the counters. An event both routers publish (a client that
    // failed over with the same id) is archived once and its handlers run once.
    const metrics = subscriberMetrics(registry);
    const subscribers = settings.sub.routers.map(
      (r) =>
        new Subscriber({
          settings: { ...settings.sub, publisherUri: r.publisherUri, replayUri: r.replayUri, name: r.cursor },
          rules,
          ...(client ? { emit: (e: EmittedEvent) => client.send(e) } : {}),
          curve,
          archive,
          queue,
          log: r.name === undefined ? slog : slog.child({ router: r.name }),
          registry,
          metrics,
        }),
    );
    lagGauges(registry, subscribers);
    for (const subscriber of subscribers) {
      closers.push(`subscriber ${subscriber.name}`, () => subscriber.close());
      await subscriber.start();
    }
    // Readiness asks each router on a socket of its own (a subscriber's replay client may
    // be busy with a long catch-up): ready while one of them answers.
    const probes = settings.sub.routers.map((r) => ({
      name: r.name ?? 'router',
      client: new ReplayClient(r.replayUri, 1000, curve),
    }));
    for (const p of probes) closers.push(`router probe ${p.name}`, () => p.client.close());
    const anyRouter = async (): Promise<void> => {
      try {
        await Promise.any(probes.map((p) => p.client.status()));
      } catch (err) {
        const why = (err as AggregateError).errors.map((e: Error, i) => (probes.length > 1 ? `${probes[i]!.name}: ${e.message}` : e.message));
        throw new TransportError(why.join('; '));
      }
    };
    const http = await startOps(
      'sub',
      settings,
      registry,
      [
        { name: 'router', check: anyRouter },
        { name: 'mongodb', check: () => archive.ping() },
        { name: 'redis', check: () => queue.ping() },
      ],
      slog,
      closers,
      { info: () => ({ handlers: handlers.hash }) },
    );
    return {
      name: 'sub',
      registry,
      subscriber: subscribers[0]!,
      subscribers,
      archive,
      http,
      reload: () => void handlers.reload('SIGHUP'),
      close: () => closers.close(),
    };
  } catch (err) {
    await closers.close();
    throw err;
  }
}

/** `sub_lag_events` and `sub_lag_seconds` over the subscribers of every router, read at each scrape. */
function lagGauges(registry: Registry, subscribers: readonly Subscriber[]): void {
  new Gauge({
    name: 'sub_lag_events',
    help: 'Events received but not yet archived and enqueued (in batches, or held while a gap is repaired)',
    registers: [registry],
    collect() {
      this.set(subscribers.reduce((n, s) => n + s.lag().events, 0));
    },
  });
  new Gauge({
    name: 'sub_lag_seconds',
    help: 'How long the oldest event not yet archived and enqueued has waited since the router stamped it (0 when none waits)',
    registers: [registry],
    collect() {
      const oldest = Math.min(...subscribers.map((s) => s.lag().oldest ?? Infinity));
      this.set(Number.isFinite(oldest) ? Math.max(0, Date.now() / 1000 - oldest) : 0);
    },
  });
}
