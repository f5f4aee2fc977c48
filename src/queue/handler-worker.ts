import { Worker, type Job } from 'bullmq';
import type { Registry } from 'prom-client';
import { HandlerError, coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { counter, histogram } from '../metrics.js';
import type { QueueSettings, WorkerSettings } from '../config/settings.js';
import type { ResultWriter } from '../archive/result-writer.js';
import type { FireFunction, HandlerDriver } from '../handlers/driver.js';
import { runHandler } from '../handlers/run-job.js';
import type { HandlerSpec } from '../handlers/spec.js';
import { queueNames, redisConnection } from './connection.js';
import type { HandlerJobData } from './job.js';

export interface HandlerWorkerOptions {
  redisUrl: string;
  queue: QueueSettings;
  settings: WorkerSettings;
  drivers: Record<HandlerSpec['driver'], HandlerDriver>;
  results: ResultWriter;
  /** Emits follow-up events; parent_event and trace_id are filled in per job. */
  fire: FireFunction;
  log: Logger;
  registry: Registry;
}

/**
 * BullMQ workers for handler jobs: one for the normal queue (`worker.concurrency` jobs at
 * once) and one for exclusive handlers (one at a time across all workers). Each run is
 * archived in `results` before the job completes.
 */
export class HandlerWorker {
  readonly #o: HandlerWorkerOptions;
  readonly #workers: Worker<HandlerJobData>[];
  readonly #m;
  #closing: Promise<void> | undefined;

  constructor(options: HandlerWorkerOptions) {
    this.#o = options;
    const names = queueNames(options.queue.name);
    const common = { connection: redisConnection(options.redisUrl), prefix: options.queue.prefix, autorun: false };
    const processor = (job: Job<HandlerJobData>, _token?: string, signal?: AbortSignal): Promise<void> => this.#process(job, signal);
    this.#workers = [
      new Worker<HandlerJobData>(names.normal, processor, { ...common, concurrency: options.settings.concurrency }),
      new Worker<HandlerJobData>(names.exclusive, processor, { ...common, concurrency: 1 }),
    ];
    for (const w of this.#workers) w.on('error', (err) => options.log.warn({ err, queue: w.name }, 'worker error'));
    const r = options.registry;
    this.#m = {
      runs: counter(r, 'worker_handler_runs_total', 'Handler runs by driver and status', ['driver', 'status']),
      duration: histogram(r, 'worker_handler_duration_seconds', 'Handler run time', [0.005, 0.05, 0.5, 5, 60], ['driver']),
    };
  }

  /** Start taking jobs. */
  start(): void {
    for (const w of this.#workers) void w.run().catch((err: unknown) => this.#o.log.error({ err }, 'worker stopped'));
    this.#o.log.info({ queue: this.#o.queue.name, concurrency: this.#o.settings.concurrency }, 'worker started');
  }

  async #process(job: Job<HandlerJobData>, signal: AbortSignal | undefined): Promise<void> {
    const { event, handler } = job.data;
    const attempt = job.attemptsMade + 1;
    const log = this.#o.log.child({ eventId: event.id, handler: handler.handler, driver: handler.driver, jobId: job.id, attempt });
    const timeoutMs = handler.timeoutMs ?? this.#o.settings.timeoutMs;
    const fire: FireFunction = (e) => this.#o.fire({ ...e, parent_event: event.id, trace_id: event.trace_id });
    log.debug('handler started');
    const result = await runHandler(this.#o.drivers, handler, event, job.id ?? '', {
      log,
      signal: signal ?? new AbortController().signal,
      timeoutMs,
      attempt,
      fire,
    });
    this.#m.runs.inc({ driver: handler.driver, status: result.status });
    this.#m.duration.observe({ driver: handler.driver }, result.duration_ms / 1000);
    await this.#o.results.write(result);
    if (result.status === 'ok') {
      log.info({ status: result.status, durationMs: result.duration_ms }, 'handler finished');
      return;
    }
    log.warn({ status: result.status, error: result.error, code: result.code, durationMs: result.duration_ms }, 'handler failed');
    throw new HandlerError(result.error ?? 'handler failed', { exitCode: result.code ?? null, signal: result.signal ?? null, stderrTail: result.stderr ?? '' });
  }

  /** Stop taking jobs and wait for running ones. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.all(this.#workers.map((w) => w.close())).then(
      () => this.#o.log.info('worker closed'),
      (err: unknown) => this.#o.log.error({ err: coerceError(err) }, 'worker close failed'),
    );
    return this.#closing;
  }
}
