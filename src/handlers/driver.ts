import type { ReactorEvent } from '../event.js';
import type { Logger } from '../logger.js';
import type { ResultStatus } from '../archive/archive.js';
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

export interface RunContext {
  log: Logger;
  /** Aborted on timeout or forced shutdown. */
  signal: AbortSignal;
  timeoutMs: number;
  attempt: number;
  fire: FireFunction;
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
