import type { ListenAddress } from '../http/listen-address.js';
import type { LevelWithSilent } from 'pino';
import type { InputSpec } from './inputs.js';

/** Everything a daemon needs, resolved from defaults < config.json < env < flags. */
export interface ReactorSettings {
  /** Absolute path of the config.json these settings came from. */
  configFile: string;
  logLevel: LevelWithSilent;
  router: RouterSettings;
  sub: SubSettings;
  worker: WorkerSettings;
  queue: QueueSettings;
  /** The Redis address: `redis://`, `rediss://`, `redis+sentinel://` or `redis+cluster://` (redis/redis-address.ts). */
  redisUrl: string;
  /** `redis.wait_replicas` / `redis.wait_timeout_ms`: replicas the journal and the subscriber's enqueues wait for. */
  redisWait: ReplicaWait;
  mongo: MongoSettings;
  /** How long the archive keeps events and results, in days; undefined keeps them forever. */
  retention: Retention;
  /** Absolute path of the handler directory. */
  handlersDir: string;
  /** Absolute path of event-handlers.json. */
  handlersFile: string;
  security: SecuritySettings;
  /** Where each daemon part serves its metrics and health over HTTP, and where the web console listens. */
  http: Record<'router' | 'sub' | 'worker' | 'inputs' | 'web', ListenAddress>;
  /** The inputs daemon: its inputs and where it forwards their events. */
  inputs: InputsSettings;
  web: WebSettings;
  /** Absolute path of the secrets directory. */
  secretsDir: string;
}

export interface SecuritySettings {
  curve: boolean;
  /** Absolute path of the certificates directory. */
  keysDir: string;
  allowInsecure: boolean;
  /** Limits by client name. */
  clients: ReadonlyMap<string, { namespaces?: readonly string[] }>;
}

/** The web console (`event-reactor web`). */
export interface WebSettings {
  /** Absolute path of the file holding its bearer token; undefined when none is configured. */
  tokenFile: string | undefined;
}

export interface RouterSettings {
  /** PULL bind URI (feeders). */
  pullBind: string;
  /** Namespace given to PULL events that carry none. */
  pullNamespace: string;
  /** Namespaces PULL accepts; undefined = any. */
  pullScope?: readonly string[];
  /** REP bind URIs with their default namespaces and scopes (one per ZMQInput feeder). */
  rep: { bind: string; namespace: string; scope?: readonly string[] }[];
  /** PUB bind URI. */
  pubBind: string;
  framing: 'multipart' | 'legacy';
  /** Messages the PUB socket queues per subscriber before dropping for it (see load.ts for the formula). */
  pubHighWaterMark: number;
  maxEventBytes: number;
  /** Longest chain of follow-up events accepted (`hops`). */
  maxHops: number;
  refusalLogIntervalMs: number;
  /** Bind URI of the replay socket (ZeroMQ ROUTER answering REQ clients as REP would; protocol in wire/replay-protocol.ts). */
  replayBind: string;
  replayMaxEvents: number;
  replayMaxBytes: number;
  /** `router.journal`: keep replayable events in Redis (`redisUrl`) or in memory. */
  journal: 'redis' | 'memory';
  /** `router.name` (default: the host name). */
  name: string;
}

export interface SubSettings {
  publisherUri: string;
  batchSize: number;
  batchMs: number;
  /** Router replay endpoint. */
  replayUri: string;
  /** Cursor name (document `_id` in the `cursors` collection). */
  name: string;
  /** Every router subscribed to (the first is `publisherUri` / `replayUri`), each with its cursor name. */
  routers: SubRouter[];
}

/** One router a subscriber follows. */
export interface SubRouter {
  /** The router's name (`router.name`); undefined for the one router of an unnamed setup. */
  name: string | undefined;
  publisherUri: string;
  replayUri: string;
  /** Its cursor's `_id` in `cursors`: the subscriber's name, with `@<router>` when there are several. */
  cursor: string;
}

export interface WorkerSettings {
  concurrency: number;
  /** Default handler timeout in ms. */
  timeoutMs: number;
  outputLimitBytes: number;
  /** Router REP endpoint for `fire()`; undefined when the router has no REP feeder. */
  routerUri: string | undefined;
  /** Default extra attempts after a failed run. */
  retries: number;
  /** Default backoff base delay in ms. */
  backoffMs: number;
  /** Time running jobs get at shutdown before they are aborted, in ms. */
  shutdownGraceMs: number;
  /** BullMQ job lock duration and stalled-job check interval, in ms. */
  lockDurationMs: number;
  /** The Python interpreter of pyfunc handlers. */
  python: string;
  /** How long a job targeted at an actor waits for a live one before it is dead-lettered, in ms. */
  actorWaitMs: number;
  /** `--actor`: this worker's actor name (`--host-name`, default the host name); undefined for a plain worker. */
  actor?: string | undefined;
}

export interface InputsSettings {
  /** Router REP endpoint the inputs forward to; undefined when the router has no REP feeder and `feeds.router_uri` is unset. */
  routerUri: string | undefined;
  /** How long each try waits for the router's reply, in ms. */
  routerTimeoutMs: number;
  /** Every input but ZMQInput, validated, in config order. */
  list: InputSpec[];
}

/** Replicas a write waits for (Redis `WAIT`) before it counts as done; 0 waits for none. */
export interface ReplicaWait {
  replicas: number;
  timeoutMs: number;
}

/** The archive's MongoDB. */
export interface MongoSettings {
  url: string;
  database: string;
  /** `mongodb.write_concern`; undefined leaves the connection string's (or the server's default). */
  writeConcern?: { w?: number | 'majority'; journal?: boolean; wtimeoutMS?: number } | undefined;
  /** `mongodb.read_preference`, for reading commands (CLI, web console, status); the daemons read the primary. */
  readPreference?: MongoReadPreference | undefined;
}

export type MongoReadPreference = 'primary' | 'primaryPreferred' | 'secondary' | 'secondaryPreferred' | 'nearest';

export interface QueueSettings {
  name: string;
  prefix: string;
}

/** Days the archive keeps what it holds; undefined keeps it forever. */
export interface Retention {
  eventsDays?: number | undefined;
  resultsDays?: number | undefined;
}
