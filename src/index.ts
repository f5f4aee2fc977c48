/**
 * event-reactor's public API: what a program embedding it needs. Start the daemons
 * (`startDaemons`, or one part with `startRouterDaemon`, `startSubDaemon`,
 * `startWorkerDaemon`) from settings loaded with `loadConfig`; fire events with
 * `RouterClient`; write tsfunc handlers against `TsHandler`. Everything else is internal
 * (`event-reactor/internal`) and may change between releases.
 */

// Configuration
export { loadConfig, buildSettings } from './config/load.js';
export type { LoadConfigOptions, LoadedConfig, ConfigOverrides } from './config/load.js';
export type { ReactorSettings, RouterSettings, SubSettings, WorkerSettings, QueueSettings } from './config/settings.js';

// Daemons
export { startDaemons, PART_ORDER } from './daemons/start-daemons.js';
export type { Part, RunningDaemons } from './daemons/start-daemons.js';
export { startRouterDaemon } from './daemons/router-daemon.js';
export type { RouterDaemon } from './daemons/router-daemon.js';
export { startSubDaemon } from './daemons/sub-daemon.js';
export type { SubDaemon } from './daemons/sub-daemon.js';
export { startWorkerDaemon } from './daemons/worker-daemon.js';
export type { WorkerDaemon } from './daemons/worker-daemon.js';
export type { Daemon } from './daemons/daemon.js';

// Firing events
export { RouterClient } from './wire/router-client.js';
export type { RouterClientOptions } from './wire/router-client.js';

// Events, handlers and results
export { eventKey } from './event/event.js';
export type { ReactorEvent } from './event/event.js';
export type { TsHandler, TsHandlerContext } from './handlers/tsfunc-driver.js';
export type { FireFunction, FollowUpEvent } from './handlers/driver.js';
export type { HandlerResult, ResultStatus } from './handlers/result.js';

// Logging
export { createLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';

// Errors
export {
  ReactorError,
  ConfigError,
  EventValidationError,
  RouterRefusedError,
  AuthError,
  UsageError,
  TransportError,
  TimeoutError,
  HandlerError,
  HandlerTimeoutError,
  HandlerRefusedError,
  ShutdownAbortError,
  JobStalledError,
  ArchiveError,
  QueueError,
  ServiceError,
  coerceError,
} from './errors.js';
export type { ErrorCode, ConfigProblem, EventRefusal } from './errors.js';
