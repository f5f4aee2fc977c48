import type { ResultStatus } from '../handlers/result.js';

/** What a worker knows of a job as it takes it. */
export interface JobStart {
  /** This attempt's number, 1 = first; failed attempts before it, plus one. */
  attempt: number;
  /** How many times the job has been started, this start included (a run cut short by a shutdown counts, an attempt does not). */
  run: number;
  /** The worker is past its shutdown grace. */
  shuttingDown: boolean;
}

/**
 * Before running a job's handler:
 * - `requeue`: the worker is shutting down: give the job back without running it;
 * - `check-earlier`: an earlier start ended neither completed nor failed (its worker
 *   died, or lost its lock in a Redis outage), perhaps after the handler ran and its
 *   result was archived: look for an ok result of the earlier runs first;
 * - `run`: run it.
 */
export function beforeRun(job: JobStart): 'requeue' | 'check-earlier' | 'run' {
  if (job.shuttingDown) return 'requeue';
  return job.run > job.attempt ? 'check-earlier' : 'run';
}

/**
 * After looking for an ok result of the earlier runs: `already-ran` completes the job
 * without running the handler a second time.
 */
export function afterEarlierCheck(okResultId: string | undefined): 'already-ran' | 'run' {
  return okResultId === undefined ? 'run' : 'already-ran';
}

/** How a run ended, as far as the verdict goes. */
export interface RunEnd {
  status: ResultStatus;
  errorCode?: string | undefined;
  /** The run was aborted because the worker's shutdown grace ran out. */
  abortedByShutdown: boolean;
  /** This attempt's number, 1 = first. */
  attempt: number;
  /** Attempts the job has in all (`1 + retries`). */
  attempts: number;
}

/**
 * After a run:
 * - `ok`: completed;
 * - `requeue`: cut short by a shutdown: back in the queue, the attempt not used up;
 * - `refused`: the handler is unsafe, missing or cannot load: dead at once, since a retry
 *   cannot help until someone fixes it;
 * - `dead`: failed its last attempt: the dead-letter queue;
 * - `retry`: failed with attempts left: retried after the backoff.
 */
export function afterRun(end: RunEnd): 'ok' | 'requeue' | 'refused' | 'dead' | 'retry' {
  if (end.status === 'ok') return 'ok';
  if (end.abortedByShutdown) return 'requeue';
  if (end.errorCode === 'ERR_HANDLER_REFUSED' || end.errorCode === 'ERR_UNKNOWN_HANDLER') return 'refused';
  return end.attempt >= end.attempts ? 'dead' : 'retry';
}
