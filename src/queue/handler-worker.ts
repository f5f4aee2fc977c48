import { DelayedError, Queue, UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import { HandlerError, HandlerRefusedError, JobStalledError, QueueError, ShutdownAbortError, UnknownHandlerError, coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { counter, histogram } from '../metrics.js';
import type { QueueSettings, WorkerSettings } from '../config/settings.js';
import type { ResultWriter } from '../archive/result-writer.js';
import type { HandlerResult } from '../handlers/result.js';
import { refused, type FireFunction, type HandlerDriver } from '../handlers/driver.js';
import { describeRun, resultId, runHandler } from '../handlers/run-job.js';
import type { HandlerSpec } from '../handlers/spec.js';
import type { HandlerEnvironment } from '../handlers/handler-env.js';
import { jitterBackoffStrategy } from './backoff.js';
import { redisRoundTrip } from './connection.js';
import { sharedRedis } from './shared-redis.js';
import { QueueRegistry, type QueueInfo } from './queue-registry.js';
import { planLanes, type LaneWant } from './lane-plan.js';
import { SlotPool } from './slot-pool.js';
import { BreakerGuard, HANDLER_LABEL_CHARS, type GuardedQueue } from './breaker-guard.js';
import { OrderTickets, orderVerdict, type OrderTicket } from './order-tickets.js';
import { describePolicy } from '../rules/entry-policy.js';
import type { EntryPolicy } from '../handlers/spec.js';
import { entryQueueName } from './queue-for.js';
import { unparked, type HandlerJobData } from './job.js';
import type { RuleTable } from '../rules/rule-table.js';
import type { RuleState } from '../rule-state/rule-state.js';
import { handlerRegisters } from './handler-registers.js';
import { afterEarlierCheck, afterRun, beforeRun } from './run-verdict.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { actorQueueName } from './actor-registry.js';

/**
 * How long a job of an entry this worker's table lacks, decided by the subscriber with
 * another table, waits for this worker's reload (file watch: about a second) before it is
 * refused as unknown; and how often it looks again meanwhile.
 */
const RELOAD_WAIT_MS = 30_000;
const RELOAD_POLL_MS = 1000;

/** How long a shutdown waits for the record of an aborted run before going on without it. */
const SHUTDOWN_WRITE_WAIT_MS = 2000;

export interface HandlerWorkerOptions {
  redisUrl: string;
  queue: QueueSettings;
  /** Concurrency, default timeout, and `shutdownGraceMs` for {@link HandlerWorker.close}. */
  settings: WorkerSettings;
  drivers: Record<HandlerSpec['driver'], HandlerDriver>;
  /** Each run's environment: allow-listed variables, `EVENT_*`, the entry's `env` and secrets. */
  environment: HandlerEnvironment;
  results: ResultWriter;
  /** Emits follow-up events; parent_event, trace_id and hops are filled in per job. */
  fire: FireFunction;
  /**
   * The handler table (hot reload swaps it): a job runs the entry this table has under
   * the job's key and id, never a command read from the job.
   */
  rules: () => RuleTable;
  /** The rules' state in Redis: a debounced job runs only if its event is still the latest of its group. */
  state?: Pick<RuleState, 'isLatest' | 'read' | 'add'>;
  log: Logger;
  registry: Registry;
  /** `--actor`: also take the jobs targeted at this actor name (its own queue, see actor-registry.ts). */
  actor?: string | undefined;
}

/** How often the queues to drain, their policies and their breakers are looked at again. */
const SYNC_MS = 1000;

/** Registered queues the table lacks are counted at every this many syncs (10 s). */
const ORPHAN_SCAN_SYNCS = 10;

/** A job waiting for its `order_by` turn is looked at again after this long, if not promoted before. */
const ORDER_POLL_MS = 5000;

/** Seconds a Worker blocks waiting for jobs before it asks again: BullMQ's default, and for queues with a global limit. */
const DEFAULT_DRAIN_S = 5;
const LIMITED_DRAIN_S = 1;

/** How long a job waits in this process for a handler slot, and then how long it goes back to Redis. */
const SLOT_WAIT_MS = 1000;
const SLOT_RETRY_MS = 1000;

/** One entry's queue as this process drains it. */
interface Lane {
  name: string;
  queue: Queue<HandlerJobData>;
  worker: Worker<HandlerJobData>;
  want: LaneWant;
  /**
   * Policy as last applied to the queue in Redis (JSON), to apply it again only on change;
   * undefined until this process applies it once (a policy removed while no worker ran
   * must be removed from Redis too).
   */
  applied: string | undefined;
  /** Handler slots of the pool this lane holds, and may hold. */
  held: number;
  cap: number;
  /** Its jobs whose handler has run and whose result is being stored (see #store). */
  storing: number;
  /** Its Worker has been started (once the policy is applied). */
  running: boolean;
}

/**
 * BullMQ workers for handler jobs: one Worker per handler entry's queue (see queue-for.ts),
 * created and closed as the handler table and the queue registry change, so a slow or
 * stuck entry never holds up another's jobs in Redis. Each entry's policy is applied to
 * its queue in Redis, for every worker at once: `concurrency` (and `exclusive`) as
 * BullMQ's global concurrency, `rate` as its global rate limit, `breaker` by pausing the
 * queue while open (breaker.ts), `order_by` by tickets (order-tickets.ts). In this
 * process, handlers of all entries share `worker.concurrency` slots (slot-pool.ts), each
 * entry at most one less than all of them when there are several. Each run is archived
 * in `results` before the job completes or fails.
 *
 * A failed run is retried with jittered exponential backoff until the job's attempts are
 * used up; the last failed attempt's result is marked `dead: true` and the job stays in
 * BullMQ's failed set, the dead-letter queue. A handler refused as unsafe or not found
 * (`ERR_HANDLER_REFUSED`) is dead at once: retrying cannot help until someone fixes it.
 *
 * A job whose worker died or lost its lock (`settings.lockDurationMs`) is run again
 * elsewhere as stalled; if the cut-off run had already archived an ok result, the job is
 * completed without running the handler a second time.
 */
export class HandlerWorker {
  readonly #options: HandlerWorkerOptions;
  readonly #redis: Redis;
  readonly #registryOfQueues: QueueRegistry;
  readonly #breakers: BreakerGuard;
  readonly #tickets: OrderTickets;
  readonly #lanes = new Map<string, Lane>();
  readonly #probes = new Map<string, Queue<HandlerJobData>>();
  /** Unfinished jobs of the registered queues the table lacks, as last counted. */
  #pending = new Map<string, number>();
  #syncs = 0;
  /** Hashes of every handler table this worker has loaded (a job decided with one of them waits for no reload). */
  readonly #tablesSeen = new Set<string>();
  /** Hash of the table whose queues were last registered. */
  #registered: string | undefined;
  /** Lanes being closed (their entry left the table and their queue is empty). */
  readonly #leaving = new Set<Promise<void>>();
  readonly #pool: SlotPool;
  readonly #m;
  /** One controller per running handler; aborted when the shutdown grace runs out. */
  readonly #running = new Set<AbortController>();
  /** Dead results of jobs failed as stalled, being written. */
  readonly #stalledWrites = new Set<Promise<void>>();
  /** Set once the shutdown grace is over: the reason given to aborted handlers. */
  #aborting: ShutdownAbortError | undefined;
  #syncTimer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #stopped = false;
  #closing: Promise<void> | undefined;

  constructor(options: HandlerWorkerOptions) {
    this.#options = options;
    this.#pool = new SlotPool(options.settings.concurrency);
    this.#redis = sharedRedis(options.redisUrl);
    this.#redis.on('error', (err) => options.log.warn({ err }, 'worker connection error'));
    this.#registryOfQueues = new QueueRegistry(this.#redis, options.queue.name);
    this.#tickets = new OrderTickets(this.#redis, options.queue.name);
    const r = options.registry;
    this.#m = {
      runs: counter(r, 'worker_handler_runs_total', 'Handler runs by driver and status', ['driver', 'status']),
      duration: histogram(
        r,
        'worker_handler_duration_seconds',
        'Handler run time, per handler entry (its command) and status',
        [0.005, 0.05, 0.5, 5, 60],
        ['driver', 'handler', 'status'],
      ),
      dead: counter(r, 'worker_jobs_dead_total', 'Jobs moved to the dead-letter queue after their last failed attempt', ['driver']),
      superseded: counter(r, 'worker_jobs_superseded_total', 'Debounced jobs not run: a later event of their group came during the quiet period', ['driver']),
      requeued: counter(r, 'worker_jobs_requeued_total', 'Jobs put back in the queue because shutdown aborted them', ['driver']),
      alreadyRan: counter(r, 'worker_jobs_already_ran_total', 'Restarted jobs completed without running, an earlier run having archived an ok result', [
        'driver',
      ]),
      deferred: counter(
        r,
        'worker_jobs_deferred_total',
        'Jobs put back in their queue for a while without running: order (an earlier event of their order_by value runs first), slots (every handler slot of this worker busy), reload (decided with a handler table this worker has not loaded yet)',
        ['reason'],
      ),
    };
    const lanes = this.#lanes;
    new Gauge({
      name: 'worker_entry_queues',
      help: 'Per-entry queues this worker takes jobs from',
      registers: [r],
      collect() {
        this.set(lanes.size);
      },
    });
    this.#breakers = new BreakerGuard({ redis: this.#redis, base: options.queue.name, fire: options.fire, log: options.log, registry: r });
  }

  /** Start taking jobs: the queues are looked at now and every {@link SYNC_MS} ms. */
  start(): void {
    const tick = (): void => {
      this.#syncing = this.#sync()
        .catch((err: unknown) => this.#options.log.warn({ err: coerceError(err) }, 'cannot update the queues this worker drains; trying again'))
        .finally(() => {
          if (!this.#stopped) {
            this.#syncTimer = setTimeout(tick, SYNC_MS);
            this.#syncTimer.unref();
          }
        });
    };
    tick();
    this.#options.log.info({ queue: this.#options.queue.name, concurrency: this.#options.settings.concurrency }, 'worker started');
  }

  /**
   * Make the lanes what the table and the registry ask for: a lane per entry, one per
   * registered queue with unfinished jobs; policies applied to their queues; breakers
   * that are due closed.
   */
  async #sync(): Promise<void> {
    const base = this.#options.queue.name;
    const table = this.#options.rules();
    this.#tablesSeen.add(table.hash);
    // A targeted entry has no queue of its own: its jobs are in its actors' queues.
    const specs = table.entries.map((e) => e.spec).filter((spec) => spec.target === undefined);
    const own = new Map<string, QueueInfo>(specs.map((s) => [entryQueueName(base, s.key, s.id), queueInfo(s)]));
    // Queues the table lacks are counted every ORPHAN_SCAN_SYNCS syncs (one round trip
    // each: a registry that has seen many entries must not cost a worker that much a second).
    const sweep = this.#syncs++ % ORPHAN_SCAN_SYNCS === 0;
    // The table's queues are registered when it changes, and again at each sweep (the
    // registry may have been flushed), not at every sync.
    if (sweep || table.hash !== this.#registered) {
      await this.#registryOfQueues.register(own);
      this.#registered = table.hash;
    }
    if (sweep) {
      this.#pending = new Map();
      for (const name of (await this.#registryOfQueues.list()).keys()) {
        if (own.has(name)) continue;
        const q = this.#lanes.get(name)?.queue ?? this.#probe(name);
        const c = await q.getJobCounts('wait', 'delayed', 'prioritized', 'active', 'waiting-children');
        this.#pending.set(
          name,
          Object.values(c).reduce((a, b) => a + b, 0),
        );
      }
    }
    const pending = new Map([...this.#pending].filter(([name]) => !own.has(name)));
    // `--actor`: its own queue too, always (jobs targeted at it run here only).
    if (this.#options.actor !== undefined) pending.set(actorQueueName(base, this.#options.actor), 1);
    if (this.#stopped) return;
    const wants = planLanes(base, specs, pending, this.#options.settings.concurrency);
    const wanted = new Set(wants.map((w) => w.name));
    for (const [name, lane] of this.#lanes) if (!wanted.has(name)) this.#closeLane(lane);
    for (const want of wants) {
      // A close began meanwhile: open nothing more.
      if (this.#stopped) return;
      const lane = this.#lanes.get(want.name) ?? this.#openLane(want);
      lane.want = want;
      lane.cap = want.cap;
      this.#resize(lane);
      const policy = JSON.stringify(want.policy ?? null);
      const changed = want.spec !== undefined && policy !== lane.applied;
      if (changed) {
        await applyPolicy(lane.queue, want.policy);
        // At its global concurrency or rate limit, a queue wakes only the worker that
        // finished a job (BullMQ hands it the next); the others wait out their blocking
        // read: one second, not BullMQ's five, for queues with such a limit.
        lane.worker.opts.drainDelay = want.policy?.concurrency !== undefined || want.policy?.rate ? LIMITED_DRAIN_S : DEFAULT_DRAIN_S;
        lane.applied = policy;
        this.#options.log.info(
          { queue: lane.name, key: want.spec?.key, handler: want.spec?.command, policy: describePolicy(want.policy) },
          'queue policy applied',
        );
      }
      await this.#breakers.check(guarded(lane), changed, sweep);
      // Only now, its policy applied: an exclusive entry's first jobs must not start two at once.
      if (!lane.running) {
        lane.running = true;
        void lane.worker.run().catch((err: unknown) => this.#options.log.error({ err, queue: lane.name }, 'worker stopped'));
      }
    }
    this.#pool.capsChanged();
  }

  /** A Queue to count the jobs of a registered queue this worker does not drain (kept: asked every second). */
  #probe(name: string): Queue<HandlerJobData> {
    let q = this.#probes.get(name);
    if (!q) {
      q = new Queue<HandlerJobData>(name, { connection: this.#redis, prefix: this.#options.queue.prefix });
      q.on('error', (err) => this.#options.log.debug({ err, queue: name }, 'queue connection error'));
      this.#probes.set(name, q);
    }
    return q;
  }

  #openLane(want: LaneWant): Lane {
    const s = this.#options.settings;
    const queue = new Queue<HandlerJobData>(want.name, { connection: this.#redis, prefix: this.#options.queue.prefix });
    queue.on('error', (err) => this.#options.log.warn({ err, queue: want.name }, 'queue connection error'));
    // Two parameters: BullMQ gives a processor that takes a third one an AbortController of
    // its own per job, for Worker.cancelJob, which we do not use; the run has ours (creating
    // a signal costs ~10 µs on Node 20, per job).
    let lane: Lane;
    const processor = (job: Job<HandlerJobData>, token?: string): Promise<void> => this.#process(lane, job, token);
    const worker = new Worker<HandlerJobData>(want.name, processor, {
      connection: this.#redis,
      prefix: this.#options.queue.prefix,
      autorun: false,
      concurrency: want.cap,
      lockDuration: s.lockDurationMs,
      stalledInterval: s.lockDurationMs,
      settings: { backoffStrategy: jitterBackoffStrategy },
    });
    lane = { name: want.name, queue, worker, want, applied: undefined, held: 0, cap: want.cap, storing: 0, running: false };
    this.#lanes.set(want.name, lane);
    worker.on('error', (err) => this.#options.log.warn({ err, queue: want.name }, 'worker error'));
    worker.on('stalled', (jobId) => this.#options.log.warn({ jobId, queue: want.name }, 'job stalled (its worker stopped renewing the lock); it runs again'));
    worker.on('completed', (job) => this.#finished(lane, job));
    worker.on('failed', (job) => {
      if (!job) return;
      // BullMQ fails a job that stalled too often without calling the processor.
      if (job.deferredFailure) this.#recordStalled(job);
      if (job.data.order) {
        void job.getState().then(
          (state) => (state === 'failed' ? this.#finished(lane, job) : undefined),
          () => undefined,
        );
      }
    });
    this.#options.log.debug({ queue: want.name, cap: want.cap, key: want.spec?.key, handler: want.spec?.command }, 'taking jobs from queue');
    return lane;
  }

  #closeLane(lane: Lane): void {
    this.#lanes.delete(lane.name);
    const leaving = Promise.allSettled([lane.worker.close()])
      .then(() => lane.queue.close())
      .catch(() => undefined)
      .finally(() => this.#leaving.delete(leaving));
    this.#leaving.add(leaving);
    this.#options.log.debug({ queue: lane.name }, 'no longer taking jobs from queue');
  }

  /**
   * A job of an `order_by` entry is done for good (completed, or failed for the last
   * time): its ticket advances, and the job whose turn it is now is promoted.
   */
  #finished(lane: Lane, job: Job<HandlerJobData>): void {
    const order = job.data.order;
    if (!order) return;
    void this.#tickets
      .advance(lane.name, order)
      .then((next) => (next === null ? undefined : promote(lane.queue, next)))
      .catch((err: unknown) =>
        this.#options.log.warn(
          { err: coerceError(err), queue: lane.name, jobId: job.id },
          'cannot advance the order of its value; the next job waits for its poll',
        ),
      );
  }

  /**
   * A job of an `order_by` entry may run now (true), or has been put back to wait for the
   * earlier events of its value (false: the processor must throw DelayedError).
   */
  async #orderTurn(lane: Lane, job: Job<HandlerJobData>, order: OrderTicket, token: string | undefined, log: Logger): Promise<boolean> {
    const name = lane.name;
    for (;;) {
      const head = await this.#tickets.peek(name, order);
      const state = head.jobId !== null && head.jobId !== job.id && order.seq > head.run ? await lane.queue.getJobState(head.jobId) : undefined;
      const verdict = orderVerdict(order.seq, { run: head.run, assignedAt: head.assignedAt, state }, Date.now());
      if (verdict === 'run') return true;
      if (verdict === 'skip-hole') {
        log.warn({ ticket: head.run, jobId: head.jobId, state }, 'order_by: skipping a ticket whose job is not in the queue or already finished');
        await this.#tickets.skip(name, order.group, head.run);
        continue;
      }
      await this.#putBack(lane, job, token, ORDER_POLL_MS);
      this.#m.deferred.inc({ reason: 'order' });
      // Its turn may have come while it was being moved: then it goes at once.
      const again = await this.#tickets.peek(name, order);
      if (again.run === order.seq) await promote(lane.queue, job.id ?? '');
      return false;
    }
  }

  /** Put a job taken from `lane` back in its delayed set for `ms`, without counting a start or an attempt. */
  async #putBack(lane: Lane, job: Job<HandlerJobData>, token: string | undefined, ms: number): Promise<void> {
    if (token === undefined) throw new QueueError(`job ${job.id} has no lock token; it will be recovered as stalled`);
    // Not a start: BullMQ counted one as it took the job (results are numbered by starts).
    await this.#redis.hincrby(lane.queue.toKey(job.id ?? ''), 'ats', -1);
    await job.moveToDelayed(Date.now() + ms, token);
  }

  async #process(lane: Lane, job: Job<HandlerJobData>, token: string | undefined): Promise<void> {
    // Parked while its actor was away and taken without the actor's heartbeat clearing the
    // mark: cleared now, or a later backoff of this job would be cut short at the next beat.
    if (job.data.parked !== undefined) await job.updateData(unparked(job.data));
    const { event, handler } = job.data;
    // attemptsMade counts failed attempts before this one; a run aborted by shutdown is
    // not one (see #requeue). attemptsStarted counts every start, so it numbers results.
    const attempt = job.attemptsMade + 1;
    const run = Math.max(job.attemptsStarted, attempt);
    const log = this.#options.log.child({ eventId: event.id, handler: handler.command, driver: handler.driver, jobId: job.id, attempt, run });
    // Taken from the queue just as the grace ran out: give it back without running it.
    if (beforeRun({ attempt, run, shuttingDown: this.#aborting !== undefined }) === 'requeue') return this.#requeue(job, token, log);
    if (job.data.order && !(await this.#orderTurn(lane, job, job.data.order, token, log))) throw new DelayedError();
    // BullMQ may have more jobs active than handlers may run (see #store). A job that gets
    // no slot soon goes back to Redis for a while: held here it would count against its
    // entry's global concurrency without running, while another worker may have room.
    if (!(await this.#pool.take(lane, SLOT_WAIT_MS))) {
      await this.#putBack(lane, job, token, SLOT_RETRY_MS);
      this.#m.deferred.inc({ reason: 'slots' });
      throw new DelayedError();
    }
    let slotHeld = true;
    const releaseSlot = (): void => {
      if (slotHeld) this.#pool.release(lane);
      slotHeld = false;
    };
    const start = beforeRun({ attempt, run, shuttingDown: this.#aborting !== undefined });
    // The grace ran out while it waited for a slot.
    if (start === 'requeue') {
      releaseSlot();
      return this.#requeue(job, token, log);
    }
    const resolved = this.#resolve(job.data);
    // Decided with a table this worker has not loaded yet (the subscriber reloaded first):
    // the job waits for this worker's reload, for a while, before it is refused as unknown.
    // A table it loaded before is not one to wait for (the entry was removed since).
    if (resolved.unknown && job.data.table !== undefined && !this.#tablesSeen.has(job.data.table) && Date.now() - job.timestamp < RELOAD_WAIT_MS) {
      releaseSlot();
      await this.#putBack(lane, job, token, RELOAD_POLL_MS);
      this.#m.deferred.inc({ reason: 'reload' });
      log.info(
        { table: job.data.table, ours: this.#options.rules().hash },
        "job of an entry this worker's table lacks, decided with another table; waiting for a reload",
      );
      throw new DelayedError();
    }
    const spec = resolved.spec;
    if (job.data.debounce && resolved.refusal === undefined) {
      let latest: boolean;
      try {
        if (!this.#options.state) throw new HandlerRefusedError('debounced job, but this worker has no rules state (Redis) to check it against');
        latest = await this.#options.state.isLatest(job.data.debounce.key, event.id);
      } catch (err) {
        // The slot goes back whatever happens here, or the queue would stop after `concurrency` such jobs.
        releaseSlot();
        throw err;
      }
      if (!latest) {
        releaseSlot();
        this.#m.superseded.inc({ driver: spec.driver });
        log.info({ debounce: job.data.debounce.key }, 'debounced: a later event of its group came during the quiet period; not run');
        return;
      }
    }
    const timeoutMs = spec.timeoutMs ?? this.#options.settings.timeoutMs;
    const fire: FireFunction = (e) => this.#options.fire({ ...e, parent_event: event.id, trace_id: event.trace_id, hops: (event.hops ?? 0) + 1 });
    const controller = new AbortController();
    this.#running.add(controller);
    let result;
    try {
      if (start === 'check-earlier') {
        let earlier: string | undefined;
        try {
          earlier = await this.#options.results.findOk(earlierRuns(job.id ?? '', run), controller.signal);
        } catch (err) {
          if (err instanceof ShutdownAbortError) return await this.#requeue(job, token, log);
          throw err;
        }
        if (afterEarlierCheck(earlier) === 'already-ran') {
          this.#m.alreadyRan.inc({ driver: handler.driver });
          log.info({ resultId: earlier }, 'handler already ran; job completed without running it again');
          return;
        }
      }
      log.debug('handler started');
      const jobRun = { id: job.id ?? '', run };
      result =
        resolved.refusal !== undefined
          ? describeRun(
              spec,
              event,
              jobRun,
              attempt,
              refused(resolved.unknown ? new UnknownHandlerError(resolved.refusal) : new HandlerRefusedError(resolved.refusal)),
              new Date(),
              new Date(),
            )
          : await runHandler(this.#options.drivers, this.#options.environment, spec, event, jobRun, {
              log,
              signal: controller.signal,
              timeoutMs,
              attempt,
              fire,
              ...(resolved.argv ? { argv: resolved.argv } : {}),
              ...(this.#options.state ? { registers: handlerRegisters(this.#options.state, this.#options.rules().registers, event, jobRun.id) } : {}),
            });
    } finally {
      this.#running.delete(controller);
      releaseSlot();
    }
    if (job.data.actor !== undefined) result.actor = job.data.actor;
    const reason: unknown = controller.signal.reason;
    const verdict = afterRun({
      status: result.status,
      errorCode: result.error_code,
      abortedByShutdown: reason instanceof ShutdownAbortError,
      attempt,
      attempts: job.opts.attempts ?? 1,
    });
    if (verdict === 'requeue' && reason instanceof ShutdownAbortError) {
      result.status = 'error';
      result.error = reason.message;
      result.error_code = reason.code;
    }
    const dead = verdict === 'dead' || verdict === 'refused';
    if (dead) result.dead = true;
    this.#m.runs.inc({ driver: handler.driver, status: result.status });
    // A job forged with an unknown handler does not get to name a label value.
    const shown = result.error_code === 'ERR_UNKNOWN_HANDLER' ? '(unknown)' : result.handler.slice(0, HANDLER_LABEL_CHARS);
    this.#m.duration.observe({ driver: handler.driver, handler: shown, status: result.status }, result.duration_ms / 1000);
    if (verdict === 'requeue') {
      log.warn({ durationMs: result.duration_ms }, 'handler aborted by shutdown');
      this.#m.requeued.inc({ driver: handler.driver });
      // The job goes back first: if MongoDB is down, waiting for the record of the aborted
      // run must not hold the job until the hard deadline kills the worker.
      return this.#requeue(job, token, log, () => this.#writeBounded(result, log));
    }
    await this.#store(lane, job, result, token);
    if (verdict === 'retry' || verdict === 'dead') await this.#breakers.failed(guarded(lane), result._id, log);
    if (verdict === 'ok') {
      log.info({ status: result.status, durationMs: result.duration_ms }, 'handler finished');
      return;
    }
    log.warn(
      { status: result.status, error: result.error, code: result.code, errorCode: result.error_code, durationMs: result.duration_ms, dead },
      'handler failed',
    );
    if (dead) {
      this.#m.dead.inc({ driver: handler.driver });
      log.error({ attempts: attempt, error: result.error }, 'job moved to the dead-letter queue');
    }
    const message = result.error ?? 'handler failed';
    // BullMQ fails an UnrecoverableError at once, whatever attempts are left.
    if (verdict === 'refused') throw new UnrecoverableError(message);
    throw new HandlerError(message, { exitCode: result.code ?? null, signal: result.signal ?? null, stderrTail: result.stderr ?? '' });
  }

  /**
   * The entry this worker's table has for a job, with the argv its template gives for the
   * event; or why it cannot run (no such entry any more, a placeholder without a value).
   */
  #resolve(data: HandlerJobData): { spec: HandlerSpec; argv?: string[]; refusal?: string; unknown?: true } {
    const table = this.#options.rules();
    const entry = table.byRef(data.handler.key, data.handler.id);
    if (!entry) {
      return {
        spec: data.handler,
        unknown: true,
        refusal: `handler ${JSON.stringify(data.handler.command)} (id ${data.handler.id}) under key ${data.handler.key} is not in this worker's event-handlers.json (table ${table.hash}): removed or changed after the job was queued, or this worker's file differs from the subscriber's`,
      };
    }
    // The subscriber could not tell which actor the event is for: dead, naming why.
    if (data.targetRefusal !== undefined) return { spec: entry.spec, refusal: data.targetRefusal };
    if (!entry.template) return { spec: entry.spec };
    const r = entry.template.render(data.event);
    return r.ok ? { spec: entry.spec, argv: r.argv } : { spec: entry.spec, refusal: r.message };
  }

  /**
   * Archive the result of a run before its job completes or fails.
   *
   * BullMQ counts a job against its worker's concurrency until the processor returns, and
   * ours returns only once the result is stored: group commit, a few to tens of ms on
   * FerretDB, during which the job's slot runs no handler. So while jobs of a lane wait
   * for their results, its BullMQ concurrency is raised by as many (up to twice its cap),
   * and more jobs are taken meanwhile; result batches grow with them. Handlers themselves
   * still run at most `worker.concurrency` at a time (each lane at most its cap): a job
   * takes a handler slot of the pool before it starts and gives it back once its
   * handler is done, before its result is stored. A job taken while every slot is busy
   * waits for one; that happens only while results wait, so briefly.
   */
  async #store(lane: Lane, job: Job<HandlerJobData>, result: HandlerResult, token: string | undefined): Promise<void> {
    // Sent again after a failure only while this worker still holds the job (see ResultWriter.write).
    const stillOurs = async (): Promise<boolean> => {
      const ours = token !== undefined && (await job.extendLock(token, this.#options.settings.lockDurationMs)) === 1;
      if (!ours)
        this.#options.log.warn(
          { jobId: job.id, resultId: result._id },
          'result not archived: the job was taken over while it waited (its other run stores its own)',
        );
      return ours;
    };
    lane.storing++;
    this.#resize(lane);
    try {
      await this.#options.results.write(result, stillOurs);
    } finally {
      lane.storing--;
      this.#resize(lane);
    }
  }

  #resize(lane: Lane): void {
    lane.worker.concurrency = lane.cap + Math.min(lane.storing, lane.cap);
  }

  /**
   * BullMQ failed `job` without running it: it stalled more often than allowed. Archive
   * that as its dead result, so the dead letter is in `results` too; unless an earlier run
   * had archived an ok result, in which case the handler did run and nothing is added.
   */
  #recordStalled(job: Job<HandlerJobData>): void {
    const { event, handler } = job.data;
    const id = job.id ?? '';
    const run = job.attemptsStarted;
    const log = this.#options.log.child({ eventId: event.id, handler: handler.command, driver: handler.driver, jobId: id, run });
    const controller = new AbortController();
    this.#running.add(controller);
    const writing = (async () => {
      const ok = await this.#options.results.findOk(earlierRuns(id, run + 1), controller.signal);
      if (ok !== undefined) {
        log.warn({ resultId: ok }, 'job failed as stalled after its handler had run ok; nothing to add');
        return;
      }
      const err = new JobStalledError(job.stalledCounter, job.deferredFailure);
      const now = new Date();
      const result = describeRun(
        handler,
        event,
        { id, run },
        Math.max(1, job.attemptsMade),
        { status: 'error', error: err.message, errorCode: err.code, data: null },
        now,
        now,
      );
      result.dead = true;
      await this.#options.results.write(result);
      this.#m.dead.inc({ driver: handler.driver });
      log.error({ stalls: err.stalls, error: err.message }, 'job moved to the dead-letter queue');
    })()
      .catch((err: unknown) => log.error({ err: coerceError(err) }, 'could not archive the dead result of a stalled job'))
      .finally(() => {
        this.#running.delete(controller);
        this.#stalledWrites.delete(writing);
      });
    this.#stalledWrites.add(writing);
  }

  /**
   * Put an active job back in its queue without using up an attempt: BullMQ's
   * moveToWait releases our lock and leaves `attemptsMade` alone, and a WaitingError
   * tells the worker the job has been dealt with (neither completed nor failed).
   */
  async #requeue(job: Job<HandlerJobData>, token: string | undefined, log: Logger, then?: () => Promise<void>): Promise<never> {
    if (token === undefined) throw new QueueError(`job ${job.id} has no lock token; it will be recovered as stalled`);
    await job.moveToWait(token);
    log.info('job requeued');
    await then?.();
    throw new WaitingError();
  }

  /** Archive `result`, waiting at most {@link SHUTDOWN_WRITE_WAIT_MS}; the write goes on in the background. */
  async #writeBounded(result: HandlerResult, log: Logger): Promise<void> {
    if (!(await settlesWithin(this.#options.results.write(result), SHUTDOWN_WRITE_WAIT_MS)))
      log.warn(
        { resultId: result._id, waitedMs: SHUTDOWN_WRITE_WAIT_MS },
        'result of the aborted run not archived yet (MongoDB unreachable?); the job is requeued all the same',
      );
  }

  /** Resolves when Redis answers a PING on the worker's connection. @throws {QueueError} otherwise */
  async ping(): Promise<void> {
    try {
      await redisRoundTrip(this.#redis);
    } catch (err) {
      throw new QueueError(`Redis does not answer: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Stop taking jobs and give running handlers `settings.shutdownGraceMs` to finish.
   * Handlers still running then are aborted (shell: process group killed; tsfunc: signal
   * aborted); each such run is archived with `error_code: 'ERR_SHUTDOWN'` and its job goes
   * back to the queue to run again, on this or another worker, without using an attempt.
   * Resolves once every job has been dealt with and the connections are closed. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
      .finally(() => this.#disconnect())
      .then(
        () => this.#options.log.info('worker closed'),
        (err: unknown) => this.#options.log.error({ err: coerceError(err) }, 'worker close failed'),
      );
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#syncTimer);
    // Bounded: a sync waiting for an unreachable Redis must not hold up the shutdown.
    if (this.#syncing) await settlesWithin(this.#syncing, SYNC_MS);
    // Closed once the workers are, and the dead results of stalled jobs are written.
    const closed = Promise.all([...this.#lanes.values()].map((l) => l.worker.close()))
      .then(() => Promise.allSettled([...this.#leaving]))
      .then(() => Promise.allSettled([...this.#stalledWrites]));
    const graceMs = this.#options.settings.shutdownGraceMs;
    if (await settlesWithin(closed, graceMs)) return;
    this.#aborting = new ShutdownAbortError(graceMs);
    this.#options.log.warn({ graceMs, running: this.#running.size }, 'shutdown grace over; aborting running handlers');
    for (const c of this.#running) c.abort(this.#aborting);
    await closed;
  }

  /** After the workers: the queues and the shared connection. */
  async #disconnect(): Promise<void> {
    await Promise.allSettled([...[...this.#lanes.values()].map((l) => l.queue), ...this.#probes.values()].map((q) => q.close()));
    this.#lanes.clear();
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}

/** Result ids of the runs before run number `run` of job `jobId`, latest first. */
function earlierRuns(jobId: string, run: number): string[] {
  return Array.from({ length: Math.max(0, run - 1) }, (_, i) => resultId(jobId, run - 1 - i));
}

/** The registry's record of an entry's queue. */
function queueInfo(spec: HandlerSpec): QueueInfo {
  return { key: spec.key, id: spec.id, driver: spec.driver, handler: spec.command, ...(spec.policy ? { policy: spec.policy } : {}) };
}

/** Apply an entry's policy to its queue, in Redis: global concurrency and rate limit, or none. */
async function applyPolicy(queue: Queue<HandlerJobData>, policy: EntryPolicy | undefined): Promise<void> {
  if (policy?.concurrency !== undefined) await queue.setGlobalConcurrency(policy.concurrency);
  else await queue.removeGlobalConcurrency();
  if (policy?.rate) await queue.setGlobalRateLimit(policy.rate.max, Math.max(1, Math.round(policy.rate.perS * 1000)));
  else await queue.removeGlobalRateLimit();
}

/** Move a delayed job to the wait list now (nothing when it is not delayed any more). */
async function promote(queue: Queue<HandlerJobData>, jobId: string): Promise<void> {
  const job = await queue.getJob(jobId);
  if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
}

/** A lane as the breaker guard sees it: the entry of the worker's table it serves, with its policy. */
function guarded(lane: Lane): GuardedQueue {
  return { name: lane.name, queue: lane.queue, spec: lane.want.spec };
}
