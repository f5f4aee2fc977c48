import type { DriverName } from './spec.js';

export type ResultStatus = 'ok' | 'error' | 'timeout';

/**
 * One handler run, as stored in the `results` collection. Keeps EventReactor's result
 * fields (`driver_type`, `event_type`, `namespace`, `handler`, `code` or `error`, `data`).
 */
export interface HandlerResult {
  /**
   * `<job id>#<run>`: one document per run. Equals `<job id>#<attempt>` unless the job
   * was cut short by a worker shutdown or retried from the dead-letter queue.
   */
  _id: string;
  event_id: string;
  trace_id: string;
  key: string;
  namespace: string;
  event_type: string;
  handler: string;
  handler_id: string;
  driver: DriverName;
  driver_type: DriverName;
  job_id: string;
  status: ResultStatus;
  /** Exit code (shell) or 0 (tsfunc) on success; the exit code on a shell failure; absent otherwise. */
  code?: number;
  /** Error message on failure or timeout. */
  error?: string;
  /** Error code (`ERR_HANDLER`, `ERR_HANDLER_TIMEOUT`, `ERR_HANDLER_REFUSED`, `ERR_UNKNOWN_HANDLER`, `ERR_SHUTDOWN`, `ERR_STALLED`, `ERR_NO_ACTOR`). */
  error_code?: string;
  /** Signal that ended a shell handler. */
  signal?: string;
  /** stdout (shell) or the return value (tsfunc), capped at `worker.output_limit` bytes. */
  data: unknown;
  /** True when `data` was cut at the output limit. */
  data_truncated?: boolean;
  /** Last 4 KiB of stderr (shell). */
  stderr?: string;
  start: Date;
  end: Date;
  duration_ms: number;
  /** The same in seconds, as event timestamps are. */
  duration: number;
  /** Attempt number, 1 = first run; counts towards the handler's `1 + retries` attempts. */
  attempt: number;
  /**
   * How many times the job has been started, this run included. Unlike `attempt` it also
   * counts runs aborted by a worker shutdown and runs after a dead-letter retry.
   */
  run: number;
  /**
   * True on the result of a job's last failed attempt: the job is now in the dead-letter
   * queue; false on every other run (so retention can keep dead letters: see `archive`).
   */
  dead: boolean;
  host: string;
  pid: number;
  /** Targeted (`"target"`): the actor whose queue the job was in, and which ran it (or none did: `ERR_NO_ACTOR`). */
  actor?: string;
}
