import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import type { Logger } from '../logger.js';
import type { ReactorSettings } from '../config/settings.js';
import type { ResultWriter } from '../archive/result-writer.js';
import type { CloserStack } from '../lifecycle/closers.js';
import { ActorRegistry } from '../queue/actor-registry.js';
import { ActorHeartbeat } from '../queue/actor-heartbeat.js';
import { AbsentActors } from '../queue/absent-actors.js';

/**
 * A worker's part in actors: with `--actor`, its heartbeat under its name (the handler
 * worker consumes its queue); in every worker, the watch that parks and dead-letters jobs
 * of actors that are not live. Each part's closer is pushed on `closers`.
 */
export async function startActors(settings: ReactorSettings, results: ResultWriter, metrics: Registry, log: Logger, closers: CloserStack): Promise<void> {
  const { redisUrl, queue } = settings;
  const self = settings.worker.actor;
  const registry = new ActorRegistry({ redisUrl, queue });
  closers.push('actor registry', () => registry.close());
  const absent = new AbsentActors({
    redisUrl,
    queue,
    registry,
    results,
    actorWaitMs: settings.worker.actorWaitMs,
    lockDurationMs: settings.worker.lockDurationMs,
    self,
    log: log.child({ part: 'absent-actors' }),
    metrics,
  });
  absent.start();
  closers.push('absent actors watch', () => absent.close());
  new Gauge({
    name: 'worker_actors_live',
    help: 'Actor workers whose heartbeat is fresh, read from Redis at each scrape',
    registers: [metrics],
    async collect() {
      const live = await registry.live().catch(() => undefined);
      if (live) this.set(live.length);
    },
  });
  if (self === undefined) return;
  const heartbeat = new ActorHeartbeat({ name: self, registry, redisUrl, queue, log });
  await heartbeat.start();
  closers.push('actor heartbeat', () => heartbeat.close());
  log.info({ actor: self }, 'actor: taking the jobs targeted at this name');
}
