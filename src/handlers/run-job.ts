import { hostname } from 'node:os';
import type { ReactorEvent } from '../event/event.js';
import type { HandlerResult } from './result.js';
import { HandlerRefusedError } from '../errors.js';
import { refused, type HandlerDriver, type RunContext, type RunOutcome } from './driver.js';
import { masker, type HandlerEnvironment } from './handler-env.js';
import type { HandlerSpec } from './spec.js';

const HOST = hostname();

/** Which job a run belongs to: its id and how many times it has been started, this run included. */
export interface JobRun {
  id: string;
  run: number;
}

/** `_id` of the `results` document of run number `run` (1 = first start) of job `jobId`. */
export function resultId(jobId: string, run: number): string {
  return `${jobId}#${run}`;
}

/**
 * Run one handler in its own environment (allow-listed variables, `EVENT_*`, the entry's
 * `env` with its secrets) and describe the run as a `results` document (`_id`
 * `<job id>#<run>`), its secret values masked. A secret that cannot be read refuses the run.
 */
export async function runHandler(
  drivers: Readonly<Partial<Record<HandlerSpec['driver'], HandlerDriver>>>,
  environment: HandlerEnvironment,
  spec: HandlerSpec,
  event: ReactorEvent,
  job: JobRun,
  ctx: Omit<RunContext, 'env' | 'mask'>,
): Promise<HandlerResult> {
  const start = new Date();
  let outcome: RunOutcome;
  let mask = masker([]);
  try {
    const { env, secrets } = environment.forRun(spec, event, ctx.attempt);
    mask = masker(secrets);
    const driver = drivers[spec.driver];
    if (!driver) throw new HandlerRefusedError(`driver "${spec.driver}" is not available in this worker`);
    outcome = await driver.run(spec, event, { ...ctx, env, mask });
  } catch (err) {
    if (!(err instanceof HandlerRefusedError)) throw err;
    outcome = refused(err);
  }
  return describeRun(spec, event, job, ctx.attempt, mask(outcome), start, new Date());
}

/** A `results` document for one run (or a start that never ran the handler) of a job. */
export function describeRun(spec: HandlerSpec, event: ReactorEvent, job: JobRun, attempt: number, outcome: RunOutcome, start: Date, end: Date): HandlerResult {
  const result: HandlerResult = {
    _id: resultId(job.id, job.run),
    event_id: event.id,
    trace_id: event.trace_id,
    key: `${event.namespace}:${event.event_type}`,
    namespace: event.namespace,
    event_type: event.event_type,
    handler: spec.command,
    handler_id: spec.id,
    driver: spec.driver,
    driver_type: spec.driver,
    job_id: job.id,
    status: outcome.status,
    data: outcome.data,
    start,
    end,
    duration_ms: end.getTime() - start.getTime(),
    duration: (end.getTime() - start.getTime()) / 1000,
    attempt,
    run: job.run,
    dead: false,
    host: HOST,
    pid: process.pid,
  };
  if (outcome.code !== undefined) result.code = outcome.code;
  if (outcome.error !== undefined) result.error = outcome.error;
  if (outcome.errorCode !== undefined) result.error_code = outcome.errorCode;
  if (outcome.signal !== undefined) result.signal = outcome.signal;
  if (outcome.dataTruncated) result.data_truncated = true;
  if (outcome.stderr) result.stderr = outcome.stderr;
  return result;
}
