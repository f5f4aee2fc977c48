import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Counter, Registry } from 'prom-client';
import { NoActorError, coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { counter } from '../metrics.js';
import type { QueueSettings } from '../config/settings.js';
import type { ResultWriter } from '../archive/result-writer.js';
import { describeRun, resultId } from '../handlers/run-job.js';
import { actorQueueName, type ActorRegistry } from './actor-registry.js';
import type { Redis } from 'ioredis';
import { sharedRedis } from './shared-redis.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { unparked, type HandlerJobData } from './job.js';

export interface AbsentActorsOptions {
  redisUrl: string;
  queue: QueueSettings;
  registry: ActorRegistry;
  results: Pick<ResultWriter, 'write' | 'findOk'>;
  /** `worker.actor_wait` in ms: how long a targeted job waits for its actor. */
  actorWaitMs: number;
  /** `worker.lock_duration` in ms, for the jobs it holds. */
  lockDurationMs: number;
  /** This worker's own actor name, if it is one: its queue is its own business. */
  self?: string | undefined;
  log: Logger;
  metrics: Registry;
}

/** How long a shutdown waits for a sweep under way (Redis may be unreachable). */
const CLOSE_WAIT_MS = 2000;

/** Job states that mean "still to be done" in an actor's queue (active: maybe stalled with its actor). */
const PENDING_STATES = ['waiting', 'delayed', 'prioritized', 'active'] as const;

/**
 * Every worker's watch over the queues of actors that are not live.
 *
 * The subscriber puts a targeted job in its actor's queue whether or not the actor is alive
 * (an actor restarting takes it a moment later). Someone must deal with jobs whose actor
 * does not come: every {@link sweepMs} this looks at the actors known (beating or only
 * targeted) and, for each one not live whose queue holds jobs, consumes that queue with a
 * BullMQ Worker of its own, until the actor is live again or the queue is empty. A job
 * taken so is either
 * - parked: delayed until its wait (`worker.actor_wait`, from when it was due) is over and
 *   marked, so that the actor, when it comes back, promotes it at its next heartbeat; or
 * - dead-lettered once its wait is over: a dead result with `ERR_NO_ACTOR` in `results`,
 *   and the job in its queue's failed set (`event-reactor dlq` lists actor queues too);
 *   unless an earlier run (its actor died after storing an ok result) had run it.
 *
 * BullMQ gives each job to one consumer at a time, so a job is run by its actor or
 * dead-lettered here, never both; stalled jobs of an actor that died mid-job are recovered
 * by this Worker's stalled-job check and handled the same way. Why here and not a sweeper
 * that moves jobs between queues: a job never leaves its queue (no window where it is in
 * two or none), and it is a dead letter where its actor's failures are too.
 */
export class AbsentActors {
  readonly #o: AbsentActorsOptions;
  readonly #watchers = new Map<string, Worker<HandlerJobData>>();
  /** One connection for the counting queues and the watchers (each Worker adds its blocking one). */
  readonly #redis: Redis;
  readonly #queues = new Map<string, Queue<HandlerJobData>>();
  readonly #m: { noActor: Counter<'driver'>; dead: Counter<'driver'> | undefined };
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: AbsentActorsOptions) {
    this.#o = options;
    this.#redis = sharedRedis(options.redisUrl);
    this.#redis.on('error', (err) => options.log.debug({ err }, 'absent actor watch: connection error'));
    this.#m = {
      noActor: counter(options.metrics, 'worker_jobs_no_actor_total', 'Targeted jobs dead-lettered: no live actor took them within worker.actor_wait', [
        'driver',
      ]),
      // Counted with the other dead letters when the handler worker shares the registry.
      dead: options.metrics.getSingleMetric('worker_jobs_dead_total') as Counter<'driver'> | undefined,
    };
  }

  /** How often the known actors are looked at: a quarter of the wait, between 1 and 10 s. */
  get sweepMs(): number {
    return Math.min(10_000, Math.max(1000, Math.round(this.#o.actorWaitMs / 4)));
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#sweeping ??= this.#sweep()
        .catch((err: unknown) => this.#o.log.warn({ err: coerceError(err) }, 'could not look for jobs of absent actors; trying again'))
        .finally(() => (this.#sweeping = undefined));
    }, this.sweepMs);
    this.#timer.unref();
  }

  async #sweep(): Promise<void> {
    for (const actor of await this.#o.registry.all()) {
      if (actor.name === this.#o.self || this.#closing) continue;
      const watcher = this.#watchers.get(actor.name);
      if (actor.live) {
        if (watcher) await this.#unwatch(actor.name);
        continue;
      }
      const counts = await this.#queueOf(actor.name).getJobCounts(...PENDING_STATES);
      const pending = Object.values(counts).reduce((a, b) => a + b, 0);
      if (pending > 0 && !watcher) this.#watch(actor.name);
      else if (pending === 0 && watcher) await this.#unwatch(actor.name);
    }
  }

  #queueOf(actor: string): Queue<HandlerJobData> {
    let q = this.#queues.get(actor);
    if (!q) {
      q = new Queue<HandlerJobData>(actorQueueName(this.#o.queue.name, actor), { connection: this.#redis, prefix: this.#o.queue.prefix });
      q.on('error', () => undefined);
      this.#queues.set(actor, q);
    }
    return q;
  }

  #watch(actor: string): void {
    const w = new Worker<HandlerJobData>(actorQueueName(this.#o.queue.name, actor), (job, token) => this.#process(actor, job, token), {
      connection: this.#redis,
      prefix: this.#o.queue.prefix,
      concurrency: 4,
      lockDuration: this.#o.lockDurationMs,
      stalledInterval: this.#o.lockDurationMs,
    });
    w.on('error', (err) => this.#o.log.warn({ err, actor }, 'absent actor watch: worker error'));
    this.#watchers.set(actor, w);
    this.#o.log.info({ actor, waitS: this.#o.actorWaitMs / 1000 }, 'actor not live and jobs wait for it; watching its queue');
  }

  async #unwatch(actor: string): Promise<void> {
    const w = this.#watchers.get(actor);
    if (!w) return;
    this.#watchers.delete(actor);
    await w.close();
    this.#o.log.info({ actor }, 'stopped watching the queue of an actor (live again, or nothing waits for it)');
  }

  async #process(actor: string, job: Job<HandlerJobData>, token: string | undefined): Promise<void> {
    const { event, handler } = job.data;
    const log = this.#o.log.child({ eventId: event.id, handler: handler.command, jobId: job.id, actor });
    // Back meanwhile: leave the job to it (parked for a moment, promoted at its next beat).
    const back = (await this.#o.registry.live()).includes(actor);
    // The wait runs from when the job was first due for its actor: moving a job to the
    // delayed set rewrites its `delay`, so the deadline of a parked job is kept in its data.
    const deadline = job.data.parked ?? job.timestamp + (job.delay ?? 0) + this.#o.actorWaitMs;
    const due = deadline - this.#o.actorWaitMs;
    if (back) {
      void this.#unwatch(actor);
      // Its actor takes it now; no mark left, or a later backoff of it would be cut short.
      if (job.data.parked !== undefined) await job.updateData(unparked(job.data));
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    if (Date.now() < deadline) {
      if (job.data.parked === undefined) await job.updateData({ ...job.data, parked: deadline });
      await job.moveToDelayed(deadline, token);
      throw new DelayedError();
    }
    const id = job.id ?? '';
    const run = Math.max(1, job.attemptsStarted);
    // Its actor may have run it and died before completing it: one result, never two.
    const earlier = run > 1 ? await this.#o.results.findOk(Array.from({ length: run - 1 }, (_, i) => resultId(id, run - 1 - i))) : undefined;
    if (earlier !== undefined) {
      log.info({ resultId: earlier }, 'handler already ran on its actor; job completed without a dead letter');
      return;
    }
    const err = new NoActorError(actor, Date.now() - due);
    const now = new Date();
    const result = describeRun(
      handler,
      event,
      { id, run },
      job.attemptsMade + 1,
      { status: 'error', error: err.message, errorCode: err.code, data: null },
      now,
      now,
    );
    result.dead = true;
    result.actor = actor;
    await this.#o.results.write(result);
    this.#m.noActor.inc({ driver: handler.driver });
    this.#m.dead?.inc({ driver: handler.driver });
    log.error({ waitedMs: err.waitedMs }, 'no live actor took the job; moved to the dead-letter queue');
    throw new UnrecoverableError(err.message);
  }

  /** Stop sweeping and watching; close the connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      if (this.#sweeping && !(await settlesWithin(this.#sweeping, CLOSE_WAIT_MS)))
        this.#o.log.warn({ waitedMs: CLOSE_WAIT_MS }, 'absent actor watch: a sweep still waits for Redis; closing all the same');
      await Promise.allSettled([...this.#watchers.values()].map((w) => w.close()));
      this.#watchers.clear();
      await Promise.allSettled([...this.#queues.values()].map((q) => q.close()));
      await this.#redis.quit().catch(() => this.#redis.disconnect());
    })();
    return this.#closing;
  }
}
