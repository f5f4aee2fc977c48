/**
 * The parts the public API (index.ts) is built from, for tools and tests that need one
 * piece on its own. Not a stable API: names and shapes may change in any release.
 */
export { Router } from './router/router.js';
export type { RouterOptions, RouterEndpoints } from './router/router.js';
export { EventStamper } from './router/stamper.js';
export { parseIncoming, parsePublished, validateFields } from './event/validate.js';
export type { IncomingEvent } from './event/validate.js';
export { DEFAULT_MAX_EVENT_BYTES } from './event/event.js';
export type { IngestLimits } from './event/event.js';
export { encodeFrames, bodyOf } from './wire/framing.js';
export type { Framing } from './wire/framing.js';
export { parseReply } from './wire/reply.js';
export { ReplayClient } from './wire/replay-client.js';
export { Subscriber } from './sub/subscriber.js';
export { Sequencer } from './sub/sequencer.js';
export { RuleDecider, emittedEvent } from './sub/rule-decider.js';
export type { Decided, DecisionRecord, EmittedEvent } from './sub/rule-decider.js';
export { HandlersReloader } from './config/handlers-reloader.js';
export { JobQueue } from './queue/job-queue.js';
export type { JobQueueOptions, RetryDefaults } from './queue/job-queue.js';
export { DeadLetters } from './queue/dead-letters.js';
export type { DeadLettersOptions, DeadJob } from './queue/dead-letters.js';
export { HandlerWorker } from './queue/handler-worker.js';
export { jobIdFor } from './queue/job.js';
export type { HandlerJobData } from './queue/job.js';
export { MongoArchive, EVENTS_COLLECTION, RESULTS_COLLECTION } from './archive/mongo-archive.js';
export type { Archive, ArchiveReader } from './archive/archive.js';
export { ShellDriver } from './handlers/shell-driver.js';
export { TsfuncDriver } from './handlers/tsfunc-driver.js';
export type { HandlerDriver, RunContext, RunOutcome } from './handlers/driver.js';
export type { HandlerSpec, DriverName } from './handlers/spec.js';
export { splitArgv } from './handlers/argv.js';
export { loadHandlersFile, buildHandlers } from './config/handlers-file.js';
