import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Registry } from 'prom-client';
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
import { queueNames, queueConnection, redisRoundTrip } from './connection.js';
import type { BullConnection } from '../redis/redis-client.js';
import type { HandlerJobData } from './job.js';
import type { RuleTable } from '../rules/rule-table.js';
import type { RuleState } from '../rule-state/rule-state.js';
import { handlerRegisters } from './handler-registers.js';
import { afterEarlierCheck, afterRun, beforeRun } from './run-verdict.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { actorQueueName } from './actor-registry.js';

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

/** Longest handler command kept as a metric label. */
const HANDLER_LABEL_CHARS = 120;

/**
 * BullMQ workers for handler jobs: one for the normal queue (`worker.concurrency` jobs at
 * once) and one for exclusive handlers (one at a time across all workers). Each run is
 * archived in `results` before the job completes or fails.
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
  readonly #workers: Worker<HandlerJobData>[];
  readonly #m;
  /** One controller per running handler; aborted when the shutdown grace runs out. */
  readonly #running = new Set<AbortController>();
  /** Dead results of jobs failed as stalled, being written. */
  readonly #stalledWrites = new Set<Promise<void>>();
  /** Set once the shutdown grace is over: the reason given to aborted handlers. */
  #aborting: ShutdownAbortError | undefined;
  /** Free handler slots of the normal queue, and the jobs waiting for one (see #store). */
  #slots: number;
  readonly #slotWaiters: (() => void)[] = [];
  /** Jobs of the normal queue whose handler has run and whose result is being stored. */
  #storing = 0;
  #closing: Promise<void> | undefined;
  readonly #link: BullConnection;

  constructor(options: HandlerWorkerOptions) {
    this.#options = options;
    this.#slots = options.settings.concurrency;
    const names = queueNames(options.queue.name);
    this.#link = queueConnection(options.redisUrl);
    const common = {
      connection: this.#link.connection,
      prefix: options.queue.prefix,
      autorun: false,
      lockDuration: options.settings.lockDurationMs,
      stalledInterval: options.settings.lockDurationMs,
      settings: { backoffStrategy: jitterBackoffStrategy },
    };
    // Two parameters: BullMQ gives a processor that takes a third one an AbortController of
    // its own per job, for Worker.cancelJob, which we do not use; the run has ours (creating
    // a signal costs ~10 µs on Node 20, per job).
    const processor = (job: Job<HandlerJobData>, token?: string): Promise<void> => this.#process(job, token);
    this.#workers = [
      new Worker<HandlerJobData>(names.normal, processor, { ...common, concurrency: options.settings.concurrency }),
      new Worker<HandlerJobData>(names.exclusive, processor, { ...common, concurrency: 1 }),
      // An actor's own queue: its jobs run here only (handler slots are the normal queue's).
      ...(options.actor === undefined
        ? []
        : [new Worker<HandlerJobData>(actorQueueName(options.queue.name, options.actor), processor, { ...common, concurrency: options.settings.concurrency })]),
    ];
    for (const w of this.#workers) {
      w.on('error', (err) => options.log.warn({ err, queue: w.name }, 'worker error'));
      w.on('stalled', (jobId) => options.log.warn({ jobId, queue: w.name }, 'job stalled (its worker stopped renewing the lock); it runs again'));
      // BullMQ fails a job that stalled too often without calling the processor.
      w.on('failed', (job) => {
        if (job?.deferredFailure) this.#recordStalled(job);
      });
    }
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
    };
  }

  /** Start taking jobs. */
  start(): void {
    for (const w of this.#workers) void w.run().catch((err: unknown) => this.#options.log.error({ err }, 'worker stopped'));
    this.#options.log.info({ queue: this.#options.queue.name, concurrency: this.#options.settings.concurrency }, 'worker started');
  }

  async #process(job: Job<HandlerJobData>, token: string | undefined): Promise<void> {
    const { event, handler } = job.data;
    // attemptsMade counts failed attempts before this one; a run aborted by shutdown is
    // not one (see #requeue). attemptsStarted counts every start, so it numbers results.
    const attempt = job.attemptsMade + 1;
    const run = Math.max(job.attemptsStarted, attempt);
    const log = this.#options.log.child({ eventId: event.id, handler: handler.command, driver: handler.driver, jobId: job.id, attempt, run });
    // BullMQ may have more jobs of the normal queue active than handlers may run (see #store).
    const gated = job.queueName === this.#workers[0]!.name;
    const slot = gated ? this.#takeSlot() : undefined;
    if (slot) await slot;
    let slotHeld = gated;
    const releaseSlot = (): void => {
      if (slotHeld) this.#releaseSlot();
      slotHeld = false;
    };
    const start = beforeRun({ attempt, run, shuttingDown: this.#aborting !== undefined });
    // Taken from the queue just as the grace ran out: give it back without running it.
    if (start === 'requeue') {
      releaseSlot();
      return this.#requeue(job, token, log);
    }
    const resolved = this.#resolve(job.data);
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
    await this.#store(job, result, token);
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
   * FerretDB, during which the job's slot runs no handler. So while jobs of the normal
   * queue wait for their results, its BullMQ concurrency is raised by as many (up to twice
   * `worker.concurrency`), and more jobs are taken meanwhile; result batches grow with
   * them. Handlers themselves still run at most `worker.concurrency` at a time: a job
   * takes a handler slot before it starts (#takeSlot) and gives it back once its
   * handler is done, before its result is stored. A job taken while every slot is busy
   * waits for one; that happens only while results wait, so briefly.
   */
  async #store(job: Job<HandlerJobData>, result: HandlerResult, token: string | undefined): Promise<void> {
    const normal = this.#workers[0]!;
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
    if (job.queueName !== normal.name) {
      await this.#options.results.write(result, stillOurs);
      return;
    }
    this.#storing++;
    this.#resize(normal);
    try {
      await this.#options.results.write(result, stillOurs);
    } finally {
      this.#storing--;
      this.#resize(normal);
    }
  }

  #resize(normal: Worker<HandlerJobData>): void {
    const base = this.#options.settings.concurrency;
    normal.concurrency = base + Math.min(this.#storing, base);
  }

  /** Take a handler slot of the normal queue; if all are taken, resolves once one is given back. */
  #takeSlot(): Promise<void> | undefined {
    if (this.#slots > 0) {
      this.#slots--;
      return undefined;
    }
    return new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
  }

  /** Give a handler slot back: to the job waiting longest, if any. */
  #releaseSlot(): void {
    const next = this.#slotWaiters.shift();
    if (next) next();
    else this.#slots++;
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
      await redisRoundTrip(await this.#workers[0]!.getBackend().client);
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
      .then(
        () => this.#options.log.info('worker closed'),
        (err: unknown) => this.#options.log.error({ err: coerceError(err) }, 'worker close failed'),
      )
      .then(() => this.#link.close());
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // Closed once the workers are, and the dead results of stalled jobs are written.
    const closed = Promise.all(this.#workers.map((w) => w.close())).then(() => Promise.allSettled([...this.#stalledWrites]));
    const graceMs = this.#options.settings.shutdownGraceMs;
    if (await settlesWithin(closed, graceMs)) return;
    this.#aborting = new ShutdownAbortError(graceMs);
    this.#options.log.warn({ graceMs, running: this.#running.size }, 'shutdown grace over; aborting running handlers');
    for (const c of this.#running) c.abort(this.#aborting);
    await closed;
  }
}

/** Result ids of the runs before run number `run` of job `jobId`, latest first. */
function earlierRuns(jobId: string, run: number): string[] {
  return Array.from({ length: Math.max(0, run - 1) }, (_, i) => resultId(jobId, run - 1 - i));
}
