import { HandlerRefusedError, ReactorError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import type { Logger } from '../logger.js';
import type { ResultStatus } from './result.js';
import type { HandlerSpec } from './spec.js';

/** What a handler may send as a follow-up event. */
export interface FollowUpEvent {
  event_type: string;
  namespace?: string;
  payload?: unknown;
  id?: string;
  [extra: string]: unknown;
}

/** Emits a follow-up event through the router; resolves with the event as published. */
export type FireFunction = (event: FollowUpEvent) => Promise<ReactorEvent>;

/** A register's aggregates for one group (null when it has no sample). */
export interface RegisterReading {
  register: string;
  group: string;
  count: number;
  sum: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  last: number | null;
  /** Change per second from the first sample to the last. */
  rate: number | null;
}

/**
 * The registers of event-handlers.json, for tsfunc handlers (`ctx.registers`). `group`
 * defaults to the event's own group under the register's `by`.
 */
export interface RegistersApi {
  /** The register's aggregates over its window, or over the last `period` seconds of it. */
  get(name: string, options?: { group?: string; period?: number }): Promise<RegisterReading>;
  /** Add a sample; a retried run adding the same samples again counts them once. */
  add(name: string, value: number, options?: { group?: string }): Promise<RegisterReading>;
}

export interface RunContext {
  log: Logger;
  /** Aborted on timeout or forced shutdown. */
  signal: AbortSignal;
  timeoutMs: number;
  attempt: number;
  fire: FireFunction;
  /** The handler's whole environment: the allow-listed variables, `EVENT_*`, and the entry's `env` with its secrets. */
  env: Record<string, string>;
  /** Hides the run's secret values (`***`) in text, or in every string of a JSON value; for what the handler logs. */
  mask: <T>(value: T) => T;
  /** `shell`: the argv of a handler string with placeholders, filled from the event (else the string is split). */
  argv?: readonly string[];
  /** The registers (tsfunc handlers); absent when the worker has no rules state. */
  registers?: RegistersApi;
}

/** How one handler run ended. */
export interface RunOutcome {
  status: ResultStatus;
  code?: number;
  error?: string;
  errorCode?: string;
  signal?: string;
  data: unknown;
  dataTruncated?: boolean;
  stderr?: string;
}

export interface HandlerDriver {
  run(spec: HandlerSpec, event: ReactorEvent, ctx: RunContext): Promise<RunOutcome>;
}

/** The outcome of a run that never started: the handler was refused (unsafe, missing, unloadable). */
export function refused(err: unknown): RunOutcome {
  const e = err instanceof ReactorError ? err : new HandlerRefusedError(String(err));
  return { status: 'error', error: e.message, errorCode: e.code, data: null };
}
