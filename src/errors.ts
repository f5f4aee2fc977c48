/**
 * Typed errors. Every error the project raises is a {@link ReactorError} with a stable
 * string `code` (for logs, metrics and exit codes) and an optional `cause`.
 */

export type ErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_EVENT_INVALID'
  | 'ERR_TRANSPORT'
  | 'ERR_AUTH'
  | 'ERR_USAGE'
  | 'ERR_TIMEOUT'
  | 'ERR_HANDLER'
  | 'ERR_HANDLER_TIMEOUT'
  | 'ERR_HANDLER_REFUSED'
  | 'ERR_UNKNOWN_HANDLER'
  | 'ERR_ARCHIVE'
  | 'ERR_JOURNAL'
  | 'ERR_QUEUE'
  | 'ERR_SERVICE'
  | 'ERR_CLOSED'
  | 'ERR_SHUTDOWN'
  | 'ERR_STALLED'
  | 'ERR_NO_ACTOR'
  | 'ERR_INTERNAL';

export class ReactorError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One problem found in a configuration file. `path` is a key path such as `outputs[0].config.port`. */
export interface ConfigProblem {
  file: string;
  path: string;
  message: string;
}

/** A configuration file (config.json or event-handlers.json) could not be used. */
export class ConfigError extends ReactorError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    super('ERR_CONFIG', problems.map(formatProblem).join('\n'), options);
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  return p.path ? `${p.file}: ${p.path}: ${p.message}` : `${p.file}: ${p.message}`;
}

/** Reasons an incoming event is refused. Sent to clients in `{"error": {"code", "message"}}`. */
export type EventRefusal =
  | 'too_large'
  | 'bad_encoding'
  | 'invalid_json'
  | 'not_object'
  | 'too_deep'
  | 'missing_event_type'
  | 'bad_event_type'
  | 'bad_namespace'
  | 'bad_id'
  | 'bad_trace_id'
  | 'bad_parent_event'
  | 'bad_timestamp'
  | 'bad_key'
  | 'bad_hops'
  | 'too_many_hops'
  | 'forbidden_namespace'
  | 'bad_frames';

export class EventValidationError extends ReactorError {
  readonly reason: EventRefusal;

  constructor(reason: EventRefusal, message: string, options?: { cause?: unknown }) {
    super('ERR_EVENT_INVALID', message, options);
    this.reason = reason;
  }
}

/**
 * The router refused an event. `reason` is the wire error code of its
 * `{"error": {"code", "message"}}` reply (`invalid_json`, `too_large`, ...).
 */
export class RouterRefusedError extends ReactorError {
  readonly reason: string;

  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super('ERR_EVENT_INVALID', message, options);
    this.reason = reason;
  }
}

/** A command was called with options that do not go together, or a bad value. */
export class UsageError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_USAGE', message, options);
  }
}

/** A peer refused this client's credentials (CURVE key not authorized, or CURVE required). */
export class AuthError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_AUTH', message, options);
  }
}

export class TransportError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TRANSPORT', message, options);
  }
}

export class TimeoutError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TIMEOUT', message, options);
  }
}

/** A handler ran and failed (non-zero exit, signal, thrown error). */
export class HandlerError extends ReactorError {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderrTail: string;

  constructor(message: string, details: { exitCode?: number | null; signal?: string | null; stderrTail?: string } = {}, options?: { cause?: unknown }) {
    super('ERR_HANDLER', message, options);
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
    this.stderrTail = details.stderrTail ?? '';
  }
}

export class HandlerTimeoutError extends ReactorError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options?: { cause?: unknown }) {
    super('ERR_HANDLER_TIMEOUT', `handler timed out after ${timeoutMs} ms`, options);
    this.timeoutMs = timeoutMs;
  }
}

/** A handler was not run because its definition is unsafe or cannot be resolved. */
export class HandlerRefusedError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_HANDLER_REFUSED', message, options);
  }
}

/**
 * A job names a handler entry (key and id) this worker's event-handlers.json does not
 * have: forged, or removed or changed since the job was queued. Never run; dead at once.
 */
export class UnknownHandlerError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UNKNOWN_HANDLER', message, options);
  }
}

/**
 * A handler run was cut short because its worker shut down after the grace period. The
 * job goes back to the queue and runs again; the run does not count as an attempt.
 */
export class ShutdownAbortError extends ReactorError {
  /** How long running handlers were given before they were aborted, in ms. */
  readonly graceMs: number;

  constructor(graceMs: number, options?: { cause?: unknown }) {
    super('ERR_SHUTDOWN', `aborted by worker shutdown after the ${graceMs} ms grace period; the job goes back to the queue`, options);
    this.graceMs = graceMs;
  }
}

/**
 * BullMQ gave up on a job because the worker running it stopped (was killed, crashed, or
 * lost Redis for longer than its lock) more often than allowed. The handler is not run
 * again: it may be what brings its worker down.
 */
export class JobStalledError extends ReactorError {
  /** How many times the job was found stalled. */
  readonly stalls: number;

  constructor(stalls: number, reason: string, options?: { cause?: unknown }) {
    super('ERR_STALLED', `${reason}: the worker running it stopped ${stalls} times (killed, crashed, or cut off from Redis); not run again`, options);
    this.stalls = stalls;
  }
}

/**
 * A job targeted at an actor (`"target"` in event-handlers.json) that no live actor of
 * that name took within `worker.actor_wait`: dead-lettered, not run anywhere else.
 */
export class NoActorError extends ReactorError {
  /** The actor the job was for. */
  readonly actor: string;
  /** How long the job waited for it, in ms. */
  readonly waitedMs: number;

  constructor(actor: string, waitedMs: number, options?: { cause?: unknown }) {
    super('ERR_NO_ACTOR', `no live actor "${actor}" took the job within ${Math.round(waitedMs / 1000)} s (worker.actor_wait); not run`, options);
    this.actor = actor;
    this.waitedMs = waitedMs;
  }
}

/** The router's journal (a Redis stream) could not be written or read. */
export class JournalError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_JOURNAL', message, options);
  }
}

export class ArchiveError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ARCHIVE', message, options);
  }
}

export class QueueError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_QUEUE', message, options);
  }
}

/** A local service (Redis, FerretDB) could not be installed or started. */
export class ServiceError extends ReactorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SERVICE', message, options);
  }
}

/** Turn anything thrown into an Error without losing it. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new ReactorError('ERR_INTERNAL', value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return new ReactorError('ERR_INTERNAL', `non-error thrown: ${text}`, { cause: value });
}
