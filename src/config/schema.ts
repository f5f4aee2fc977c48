import { z } from 'zod';
import { DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_HOPS } from '../event/event.js';
import { parseRedisAddress } from '../redis/redis-address.js';

/**
 * The shape of config.json: EventReactor's file (`aggregator`, `feeds.feeders[]`,
 * `inputs[]`, `outputs[]`, `logging`) extended with `mongodb`, `redis`,
 * `event_handlers_dir`, `event_handlers`, `router`, `subscriber`, `worker` and `queue`.
 * Keys not listed are reported as warnings, never as errors.
 */

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
const seconds = z.number().positive().max(86_400);

/** An event namespace: no whitespace, control characters or ":". */
const namespaceName = z.string().regex(/^[^\s:\u0000-\u001f\u007f]{1,256}$/, 'must be a namespace: 1-256 characters, no whitespace, control characters or ":"');
const scopeSchema = z.array(namespaceName).min(1);
/** `host:port` to listen on; port 0 picks a free one. */
const listenAddress = z
  .string()
  .regex(/^(\[[^\]]+\]|[^:[\]]*):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9470 (port 0 picks a free one)')
  .refine((a) => Number(a.slice(a.lastIndexOf(':') + 1)) <= 65_535, 'port must be at most 65535');

/** A Redis address that redis-address.ts can read. */
function redisAddressCheck(url: string, ctx: z.RefinementCtx): void {
  try {
    parseRedisAddress(url);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
}

/** A ZeroMQ endpoint as EventReactor writes it: protocol + listen_address + port. */
const endpointFields = {
  /** `tcp` (default) or `ipc`. */
  protocol: z.enum(['tcp', 'ipc']).optional(),
  /** Interface to bind; `*` = all. Default `*`. */
  listen_address: z.string().min(1).optional(),
  port: port.optional(),
  /** Full URI; wins over protocol/listen_address/port when given. */
  uri: z.string().min(1).optional(),
  /** EventReactor's socket type label; informational. */
  type: z.string().optional(),
};

export const aggregatorSchema = z.looseObject({
  config: z
    .looseObject({
      ...endpointFields,
      /** Namespace for PULL events that carry none. Default `local`. */
      namespace: z.string().min(1).optional(),
      /** Scope: when set, PULL accepts only events of these namespaces (see `security.clients`). */
      namespaces: scopeSchema.optional(),
    })
    .optional(),
});

export const feederSchema = z.looseObject({
  handler: z.string().min(1),
  /** Name of an input in logs, metrics and `/readyz` (and of a TimerInput's saved state). Default: the handler, numbered when several. */
  name: z
    .string()
    .regex(/^[\w.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"')
    .optional(),
  /** Namespace of the feeder's events (EventReactor's place for it). Default `local`. */
  namespace: namespaceName.optional(),
  config: z.record(z.string(), z.unknown()).optional(),
});

export const zmqInputConfigSchema = z.looseObject({
  /** Bind URI of the REP socket, e.g. `tcp://*:55055`. */
  uri: z.string().min(1),
  /** Namespace for events that carry none. Default `local`. */
  namespace: z.string().min(1).optional(),
  /** Scope: when set, this socket accepts only events of these namespaces (see `security.clients`). */
  namespaces: scopeSchema.optional(),
  type: z.string().optional(),
});

export const outputSchema = z.looseObject({
  handler: z.string().min(1),
  config: z
    .looseObject({
      ...endpointFields,
      /** `multipart` (topic frame + JSON frame, default) or `legacy` (EventReactor's single JSON frame). */
      framing: z.enum(['multipart', 'legacy']).optional(),
      /** PUB send high-water mark per subscriber, in messages; default router.pub_memory_bytes / router.max_event_bytes. */
      sndhwm: positiveInt.optional(),
    })
    .optional(),
});

export const configFileSchema = z.looseObject({
  aggregator: aggregatorSchema.optional(),
  feeds: z
    .looseObject({
      aggregator: z.unknown().optional(),
      feeders: z.array(feederSchema).optional(),
      /** Router REP endpoint the inputs daemon forwards events to. Default: the ZMQInput feeder on 127.0.0.1. */
      router_uri: z.string().min(1).optional(),
      /** Seconds the inputs daemon waits for each router reply before trying again. */
      router_timeout: seconds.default(5),
    })
    .prefault({}),
  /** Older EventReactor name for `feeds.feeders`. */
  inputs: z.array(feederSchema).optional(),
  outputs: z.array(outputSchema).optional(),
  logging: z
    .looseObject({
      /** EventReactor level name (`DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`) or a pino level; env `EVENT_REACTOR_LOG_LEVEL` and `-l` override. */
      loglevel: z.string().default('INFO'),
      format: z.string().optional(),
    })
    .prefault({}),
  mongodb: z
    .looseObject({
      /** MongoDB connection string; env `MONGO_URL` and `--mongo-url` override. */
      url: z.string().min(1).default('mongodb://127.0.0.1:27017'),
      /** Database of the archive. */
      database: z
        .string()
        .min(1)
        .regex(/^[^/\\. "$*<>:|?]+$/, 'must be a valid MongoDB database name')
        .default('event_reactor'),
      /**
       * Write concern of every archive write, for replica sets: `w` (a number of members,
       * at least 1, or `"majority"`), `j` (wait for the journal),
       * `wtimeout_ms`. Unset: the connection string's (`w=`, `journal=`, `wtimeoutMS=`),
       * else the server's default. Set, it wins over the connection string's.
       */
      write_concern: z
        .looseObject({
          w: z
            .union([
              z.number().int().min(1, 'must be at least 1: the archive must know an event is stored (w: 0 would not report a failed write)').max(50),
              z.literal('majority'),
            ])
            .optional(),
          j: z.boolean().optional(),
          wtimeout_ms: z.number().int().min(0).max(3_600_000).optional(),
        })
        .optional(),
      /**
       * Read preference of the reading commands (`events`, `results`, `status`, `dlq`,
       * the web console): `primary`, `primaryPreferred`, `secondary`, `secondaryPreferred` or
       * `nearest`. The daemons always read the primary (their reads decide whether a handler
       * runs again). Unset: the connection string's `readPreference`, else `primary`.
       */
      read_preference: z.enum(['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest']).optional(),
    })
    .prefault({}),
  redis: z
    .looseObject({
      /**
       * Where Redis is: `redis://` or `rediss://` (one server), `redis+sentinel://host:port[,...]/<master>[/db]`
       * or `redis+cluster://host:port[,...]` (src/redis/redis-address.ts); env `REDIS_URL` and `--redis-url` override.
       */
      url: z.string().min(1).default('redis://127.0.0.1:6379').superRefine(redisAddressCheck),
      /**
       * Replicas that must have the router's journal writes and the subscriber's enqueued
       * jobs before the router acknowledges an event and the subscriber moves its cursor
       * (Redis `WAIT`): with 1, a failover to a replica loses nothing acknowledged. Default 0 (no wait).
       */
      wait_replicas: z.number().int().min(0).max(16).default(0),
      /** How long a write waits for those replicas, in ms; fewer in time is a failed write, held and retried. */
      wait_timeout_ms: positiveInt.max(60_000).default(1000),
    })
    .prefault({}),
  /** Directory of handler scripts and tsfunc modules, relative to config.json's directory. */
  event_handlers_dir: z.string().min(1).default('event-handlers'),
  /** Path of the handler table, relative to config.json's directory. */
  event_handlers: z.string().min(1).default('event-handlers.json'),
  router: z
    .looseObject({
      /** Largest accepted event, in bytes (1 MiB); ZeroMQ drops the connection of a client that sends a larger frame. */
      max_event_bytes: positiveInt.default(DEFAULT_MAX_EVENT_BYTES),
      /** Longest chain of follow-up events (`hops`) accepted; deeper ones are refused with `too_many_hops`. */
      max_hops: z.number().int().min(0).max(1000).default(DEFAULT_MAX_HOPS),
      /**
       * Memory the PUB socket may hold for one subscriber, in bytes (64 MiB): its high-water
       * mark is this divided by max_event_bytes (at least 16), unless outputs[0].config.sndhwm says otherwise.
       */
      pub_memory_bytes: positiveInt.default(67_108_864),
      /** At most one log line per refusal reason per this many ms. */
      refusal_log_interval_ms: positiveInt.default(5000),
      /** Bind URI of the replay socket (request/reply, for REQ clients) that serves missed events. */
      replay_bind: z.string().min(1).default('tcp://127.0.0.1:55001'),
      /** Most events kept for replay (in the journal, or in memory). */
      replay_max_events: positiveInt.default(100_000),
      /** Most bytes of event JSON kept for replay (64 MiB). */
      replay_max_bytes: positiveInt.default(67_108_864),
      /**
       * Where accepted events are kept for replay. `redis`: a stream in Redis (`redis.url`),
       * written before an event is published or acknowledged, read across router restarts.
       * `memory`: in the process; a router restart loses what a subscriber had not yet taken.
       */
      journal: z.enum(['redis', 'memory']).default('redis'),
      /** This router's name: its journal key and the `router` in replay replies. Default: the host name. */
      name: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash and underscore, at most 64')
        .optional(),
    })
    .prefault({}),
  subscriber: z
    .looseObject({
      /** PUB endpoint to subscribe to. Default: the `zeromq` output, connected on 127.0.0.1. */
      publisher_uri: z.string().min(1).optional(),
      /** Flush the archive/enqueue batch at this many events. */
      batch_size: positiveInt.default(500),
      /** ...or after this many ms. */
      batch_ms: positiveInt.default(20),
      /** Router replay endpoint. Default: `router.replay_bind` connected on 127.0.0.1. */
      replay_uri: z.string().min(1).optional(),
      /** Name under which this subscriber's cursor is saved (collection `cursors`). */
      name: z.string().min(1).max(128).default('default'),
      /**
       * Several routers: subscribe to each, with a cursor per router (`<name>@<router>`).
       * Unset: the one router of `publisher_uri` and `replay_uri`.
       */
      routers: z
        .array(
          z.looseObject({
            /** The router's `router.name`: its cursor's suffix. */
            name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash and underscore, at most 64'),
            publisher_uri: z.string().min(1),
            replay_uri: z.string().min(1),
          }),
        )
        .min(1)
        .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, 'router names must differ: each names its own cursor')
        .optional(),
    })
    .prefault({}),
  worker: z
    .looseObject({
      /** Jobs run at once per worker process; `--concurrency` overrides. */
      concurrency: positiveInt.default(16),
      /** Handler timeout in seconds, for entries without their own. */
      timeout: seconds.default(60),
      /** Most bytes of handler output kept in a result. */
      output_limit: positiveInt.default(65_536),
      /** Router REP endpoint used by `fire()` in tsfunc handlers. Default: the ZMQInput feeder on 127.0.0.1. */
      router_uri: z.string().min(1).optional(),
      /** Extra attempts after a failed run, for entries without their own. */
      retries: z.number().int().min(0).max(100).default(2),
      /** Base delay in seconds of the exponential backoff with jitter between attempts, for entries without their own. */
      backoff: z.number().min(0).max(86_400).default(1),
      /** Seconds running jobs get to finish at shutdown before they are aborted (and retried later). */
      shutdown_grace: z.number().min(0).max(3600).default(10),
      /**
       * Seconds a running job's lock lasts unless its worker renews it (every half of this).
       * A job whose worker died or lost Redis for longer is taken as stalled and run again
       * elsewhere; stalled jobs are looked for at this interval too.
       */
      lock_duration: z.number().min(1).max(3600).default(30),
      /** The Python interpreter of `pyfunc` handlers (one long-lived process per worker). */
      python: z.string().min(1).default('python3'),
      /**
       * Seconds a job targeted at an actor (`"target"`) waits for a live actor of that name
       * before it is dead-lettered with `ERR_NO_ACTOR`.
       */
      actor_wait: z.number().min(0).max(86_400).default(60),
    })
    .prefault({}),
  security: z
    .looseObject({
      /** Every router socket is a CURVE server admitting only authorized client keys (`event-reactor keys`). */
      curve: z.boolean().default(false),
      /** Certificates: `server.key(_secret)`, `local.key(_secret)` and `clients/*.key`; relative to config.json's directory. */
      keys_dir: z.string().min(1).default('keys'),
      /** With `curve` off, let the router bind addresses other hosts can reach (warned at every start). */
      allow_insecure: z.boolean().default(false),
      /** Limits per client name (the base name of its certificate in `keys_dir/clients`). */
      clients: z
        .record(
          z.string().regex(/^[\w.-]{1,64}$/, 'must be a client name: letters, digits, "_", "." or "-"'),
          z.looseObject({
            /** Namespaces its events may carry; it may connect only to sockets scoped within them. */
            namespaces: scopeSchema.optional(),
          }),
        )
        .default({}),
    })
    .prefault({}),
  archive: z
    .looseObject({
      /** Days events are kept; unset keeps them forever. A TTL index where the server has them, else `event-reactor archive prune`. */
      retention_days: z.number().positive().max(36_500).optional(),
      /** Days handler results are kept (dead letters are kept until purged); unset keeps them forever. */
      results_retention_days: z.number().positive().max(36_500).optional(),
    })
    .prefault({}),
  http: z
    .looseObject({
      /** The router's metrics and health endpoints (`/metrics`, `/healthz`, `/readyz`), `host:port`; port 0 picks one. `--http` overrides. */
      router: listenAddress.default('127.0.0.1:9470'),
      /** The subscriber's, likewise. */
      sub: listenAddress.default('127.0.0.1:9471'),
      /** The worker's, likewise. */
      worker: listenAddress.default('127.0.0.1:9472'),
      /** The inputs daemon's, likewise. */
      inputs: listenAddress.default('127.0.0.1:9473'),
      /** The web console (`event-reactor web`), `host:port`; a non-loopback address needs a token (`web.token_file`). `--http` overrides. */
      web: listenAddress.default('127.0.0.1:9480'),
    })
    .prefault({}),
  web: z
    .looseObject({
      /**
       * File holding the web console's bearer token (one line), relative to config.json's
       * directory; it must be readable by its owner only. Env `EVENT_REACTOR_WEB_TOKEN` wins.
       * Unset: no token (allowed on a loopback address only).
       */
      token_file: z.string().min(1).optional(),
    })
    .prefault({}),
  /** Directory of the secret files handler `env` entries read (`{"secret": "NAME"}`), relative to config.json's directory. */
  secrets_dir: z.string().min(1).default('secrets'),
  queue: z
    .looseObject({
      /** BullMQ queue name. */
      name: z
        .string()
        .min(1)
        .regex(/^[^:]+$/, 'must not contain ":"')
        .default('event-reactor'),
      /** BullMQ key prefix in Redis; with Redis Cluster, one without a hash tag is wrapped in one (`{bull}`). */
      prefix: z.string().min(1).default('bull'),
    })
    .prefault({}),
});

export type ConfigFile = z.infer<typeof configFileSchema>;

/** One handler entry in event-handlers.json; the `webhook` and `amqp` drivers add their own keys (handlers/output-options.ts). */
export const handlerSpecSchema = z.looseObject({
  /** `shell`, `tsfunc`, `pyfunc` (EventReactor's Python handlers), `webhook` or `amqp`. */
  driver: z.string().min(1),
  /** Shell command line, `module.function` for tsfunc and pyfunc, the URL for webhook, the exchange for amqp. */
  handler: z.string().min(1).max(4096),
  /** Run one at a time across all workers. Default false. */
  exclusive: z.boolean().optional(),
  /** Timeout in seconds. Default `worker.timeout` from config.json. */
  timeout: seconds.optional(),
  /** Extra attempts after a failed run. Default `worker.retries` from config.json. */
  retries: z.number().int().min(0).max(100).optional(),
  /** Base delay in seconds for exponential backoff with jitter. Default `worker.backoff` from config.json. */
  backoff: z.number().min(0).max(86_400).optional(),
  /** Variables for the handler's environment: a string, or `{"secret": "NAME"}` read from `secrets_dir/NAME`. */
  env: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name (letters, digits, "_"; not starting with a digit)'),
      z.union([z.string().max(65_536), z.strictObject({ secret: z.string().min(1) })]),
    )
    .optional(),
  /** An EventBridge-style content pattern over the whole event; the entry runs only for events it matches. */
  when: z.unknown().optional(),
  /** Conditions on registers (one, a list for all, or `{"any": [...]}`), for the event's own group. */
  if: z.unknown().optional(),
  /** `{"once_per": seconds, "by": path}`: at most one run per period per group; the others are skipped and recorded. */
  throttle: z.unknown().optional(),
  /** `{"quiet": seconds, "by": path}`: one run, for the last event, once the group has been quiet that long. */
  debounce: z.unknown().optional(),
  /** Queue policy (src/rules/entry-policy.ts): at most N runs at once across all workers. */
  concurrency: z.unknown().optional(),
  /** `{"max": n, "per": seconds}`: at most n runs started per period across all workers; the others wait. */
  rate: z.unknown().optional(),
  /** A path into the event: events with the same value there run one after another, in the order enqueued. */
  order_by: z.unknown().optional(),
  /** `{"failures", "within", "open_for"}`: that many failed runs within `within` seconds pause the entry's queue for `open_for` seconds. */
  breaker: z.unknown().optional(),
  /** Where it runs: an actor's name, a `{{path}}` template giving one, or `all` (every live actor). Default: any worker. */
  target: z.string().min(1).max(256).optional(),
});
