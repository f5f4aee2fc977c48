import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { ConfigProblem } from '../errors.js';
import { isLoopback, parseListenAddress, type ListenAddress } from '../http/listen-address.js';
import { resolveFrom } from './paths.js';
import { unknownKeys } from './unknown-keys.js';

/**
 * The inputs `event-reactor inputs` runs: one schema per feeder handler of
 * `feeds.feeders[]` (or `inputs[]`) other than ZMQInput, which the router serves itself.
 * Each entry is `{"handler", "namespace", "name", "config"}`; `namespace` (on the entry,
 * as EventReactor's sample has it, or in `config`) is the namespace of its events.
 */

const positiveInt = z.number().int().positive();
const seconds = z.number().positive().max(86_400);
const namespaceName = z.string().regex(/^[^\s:\u0000-\u001f\u007f]{1,256}$/, 'must be a namespace: 1-256 characters, no whitespace, control characters or ":"');
const eventType = z.string().regex(/^[^\s\u0000-\u001f\u007f]{1,256}$/, 'must be an event type: 1-256 characters, no whitespace or control characters');
const listenAddress = z.string().regex(/^(\[[^\]]+\]|[^:[\]]*):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8088 (port 0 picks a free one)');
/** A name used in ids, Redis keys, logs and metric labels. */
const simpleName = z.string().regex(/^[\w.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"');

/** AMQPInput: EventReactor's RabbitMQ consumer (OpenStack notifications), keys as EventReactor has them. */
export const amqpInputSchema = z.looseObject({
  /** `amqp://user:password@host:5672/vhost` (or `amqps://`). */
  url: z.string().regex(/^amqps?:\/\//, 'must be an amqp:// or amqps:// URL'),
  /** Routing key the queue is bound with to each exchange of `bindings`. */
  routing_key: z.string(),
  /** Type of the exchanges of `bindings`, used only to declare one that does not exist yet. Default `topic`. */
  exchange_type: z.enum(['direct', 'topic', 'fanout', 'headers']).default('topic'),
  /** The queue consumed (declared durable when missing). */
  queue_name: z.string().min(1).max(255),
  /** Exchanges the queue is bound to with `routing_key`. */
  bindings: z.array(z.string().min(1).max(255)).min(1),
  /** Namespace of the events (EventReactor's RabbitMQConsumer took it here too). */
  namespace: namespaceName.optional(),
  /** Most unacknowledged messages held at once (AMQP prefetch). Default 32. */
  prefetch: z.number().int().min(1).max(65_535).default(32),
  /** Exchange a refused message (not JSON, refused by the router) is published to; without one it is rejected without requeue. */
  dead_letter_exchange: z.string().min(1).max(255).optional(),
  /** Declare the queue durable when it does not exist. Default true, as kombu does. */
  durable: z.boolean().default(true),
});
export type AmqpInputConfig = z.infer<typeof amqpInputSchema>;

const hookSchema = z.looseObject({
  /** File holding the HMAC-SHA256 key of `X-Hub-Signature-256` (GitHub's scheme); relative to config.json's directory; mode 0600 or stricter. */
  hmac_secret_file: z.string().min(1).optional(),
  /** Fixed event type of the hook's events. Default: the hook's name. */
  event_type: eventType.optional(),
  /** Header whose value, after `<hook name>.`, is the event type (`X-GitHub-Event: push` makes `github.push`). */
  event_type_header: z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name')
    .optional(),
  /** Header whose value, after `<hook name>:`, is the event id, so a redelivery is archived once (`X-GitHub-Delivery`). */
  id_header: z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name')
    .optional(),
});

/** HTTPInput: `POST /events` (an event) and `POST /hooks/NAME` (any JSON body as payload). */
export const httpInputSchema = z.looseObject({
  /** `host:port` to listen on. */
  listen: listenAddress,
  /** File holding the bearer token of `POST /events` (and of hooks without a signature); mode 0600 or stricter. */
  token_file: z.string().min(1).optional(),
  /** Webhooks by name: `POST /hooks/NAME`. */
  hooks: z.record(simpleName, hookSchema).default({}),
  /** Largest accepted body, in bytes. Default 1048576. */
  max_body_bytes: positiveInt.max(64 * 1024 * 1024).default(1_048_576),
  /** Seconds a client gets to send its request (headers and body). Default 10. */
  request_timeout: seconds.default(10),
  /** Seconds a request waits for the router's reply before a 503. Default 5. */
  router_wait: seconds.default(5),
  /** Requests being forwarded at once; more get a 503. Default 64. */
  max_in_flight: positiveInt.default(64),
  namespace: namespaceName.optional(),
});
export type HttpInputConfig = z.infer<typeof httpInputSchema>;

/** MQTTInput: subscribe to topics; `event_type` from the topic. */
export const mqttInputSchema = z.looseObject({
  /** `mqtt://host:1883` (or `mqtts://`, `ws://`, `wss://`); user and password may be in it. */
  url: z.string().regex(/^(mqtts?|wss?):\/\//, 'must be an mqtt://, mqtts://, ws:// or wss:// URL'),
  /** Topic filters subscribed to (`+` and `#` wildcards). */
  topics: z.array(z.string().min(1).max(65_535)).min(1),
  /** 0 (at most once), 1 (at least once: PUBACK only after the router's reply) or 2. Default 1. */
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(1),
  /** Client id of the persistent session. Default `event-reactor-<host>-<input name>`. */
  client_id: z.string().min(1).max(128).optional(),
  /** File holding the password (instead of one in the URL); mode 0600 or stricter. */
  password_file: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  /** Keepalive interval in seconds. Default 30. */
  keepalive: z.number().int().min(1).max(65_535).default(30),
  namespace: namespaceName.optional(),
});
export type MqttInputConfig = z.infer<typeof mqttInputSchema>;

const scheduleSchema = z
  .looseObject({
    /** Stable name, used in event ids and the saved state. Default: the event type. */
    name: simpleName.optional(),
    /** Cron expression, 5 fields or 6 with seconds first. */
    cron: z.string().min(1).optional(),
    /** IANA time zone of `cron`. Default UTC. */
    timezone: z.string().min(1).optional(),
    /** Interval in seconds; ticks are multiples of it since the Unix epoch. */
    every: z.number().int().min(1).max(31_536_000).optional(),
    event_type: eventType,
    /** Payload of each event. Default `{}`. */
    payload: z.unknown().optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.cron === undefined) === (s.every === undefined)) ctx.addIssue({ code: 'custom', message: 'needs exactly one of "cron" and "every"' });
    if (s.timezone !== undefined && !validTimeZone(s.timezone))
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: `unknown time zone "${s.timezone}" (use an IANA name such as Europe/Paris)` });
    else if (s.cron !== undefined) {
      const problem = cronProblem(s.cron, s.timezone);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem });
    }
  });

/** TimerInput: events on cron schedules or intervals, one per tick across restarts. */
export const timerInputSchema = z
  .looseObject({
    schedules: z.array(scheduleSchema).min(1),
    namespace: namespaceName.optional(),
  })
  .superRefine((t, ctx) => {
    const seen = new Set<string>();
    t.schedules.forEach((s, i) => {
      const name = s.name ?? s.event_type;
      if (seen.has(name))
        ctx.addIssue({ code: 'custom', path: ['schedules', i, 'name'], message: `two schedules are named "${name}": give each its own "name"` });
      seen.add(name);
    });
  });
export type TimerInputConfig = z.infer<typeof timerInputSchema>;
export type TimerSchedule = TimerInputConfig['schedules'][number];

const every = { every: seconds.max(86_400) };
/** BeaconInput: host beacons (load, disk, memory, service states). */
export const beaconInputSchema = z
  .looseObject({
    load: z.looseObject(every).optional(),
    disk: z.looseObject({ ...every, paths: z.array(z.string().min(1)).min(1).default(['/']) }).optional(),
    memory: z.looseObject(every).optional(),
    service: z.looseObject({ ...every, units: z.array(z.string().regex(/^[\w@.:-]{1,256}$/, 'must be a systemd unit name')).min(1) }).optional(),
    namespace: namespaceName.optional(),
  })
  .refine((b) => b.load || b.disk || b.memory || b.service, 'needs at least one of "load", "disk", "memory", "service"');
export type BeaconInputConfig = z.infer<typeof beaconInputSchema>;

const SCHEMAS = {
  AMQPInput: amqpInputSchema,
  HTTPInput: httpInputSchema,
  MQTTInput: mqttInputSchema,
  TimerInput: timerInputSchema,
  BeaconInput: beaconInputSchema,
} as const;

/** The input handlers the inputs daemon runs. */
export type InputHandler = keyof typeof SCHEMAS;

interface Common {
  /** Its name in logs (`input`), metrics and `/readyz`: the entry's `name`, else the handler (numbered when several). */
  name: string;
  /** Namespace of its events. */
  namespace: string;
  /** Key path of the entry, e.g. `feeds.feeders[0]`. */
  at: string;
}

/** HTTPInput's config with its files resolved and its address parsed. */
export interface HttpInputSettings extends HttpInputConfig {
  address: ListenAddress;
}

/** One validated input. */
export type InputSpec = Common &
  (
    | { handler: 'AMQPInput'; config: AmqpInputConfig }
    | { handler: 'HTTPInput'; config: HttpInputSettings }
    | { handler: 'MQTTInput'; config: MqttInputConfig & { client_id: string } }
    | { handler: 'TimerInput'; config: TimerInputConfig }
    | { handler: 'BeaconInput'; config: BeaconInputConfig }
  );

export function isInputHandler(handler: string): handler is InputHandler {
  return Object.hasOwn(SCHEMAS, handler);
}

/** A feeder entry as config.json has it. */
export interface FeederEntry {
  handler: string;
  name?: string | undefined;
  namespace?: string | undefined;
  config?: Record<string, unknown> | undefined;
}

/**
 * Validate one input feeder with its handler's schema. Problems and unknown keys come
 * back with their key paths (`feeds.feeders[2].config.hooks.github.event_type_header`).
 *
 * @param path - the entry's key path as zod issue paths are (`['feeds', 'feeders', 2]`)
 * @param name - its name, already made unique by the caller
 */
export function parseInputFeeder(
  file: string,
  path: readonly PropertyKey[],
  at: string,
  feeder: FeederEntry & { handler: InputHandler },
  name: string,
  keyPath: (p: readonly PropertyKey[]) => string,
): { spec?: InputSpec; problems: ConfigProblem[]; warnings: ConfigProblem[] } {
  const schema = SCHEMAS[feeder.handler];
  const raw = feeder.config ?? {};
  const configPath = [...path, 'config'];
  const warnings = unknownKeys(schema, raw, configPath).map((p) => ({ file, path: keyPath(p), message: 'unknown key; ignored' }));
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return { problems: parsed.error.issues.map((i) => ({ file, path: keyPath([...configPath, ...i.path]), message: i.message })), warnings };
  }
  const problems: ConfigProblem[] = [];
  const problem = (rel: PropertyKey[], message: string): void => void problems.push({ file, path: keyPath([...configPath, ...rel]), message });
  const cfgNamespace = (parsed.data as { namespace?: string }).namespace;
  if (feeder.namespace !== undefined && cfgNamespace !== undefined && feeder.namespace !== cfgNamespace)
    problems.push({ file, path: `${at}.namespace`, message: `differs from config.namespace "${cfgNamespace}": give one` });
  const common: Common = { name, namespace: feeder.namespace ?? cfgNamespace ?? 'local', at };
  const absolute = (p: string): string => resolveFrom(file, p);
  let spec: InputSpec | undefined;
  switch (feeder.handler) {
    case 'AMQPInput':
      spec = { ...common, handler: 'AMQPInput', config: parsed.data as AmqpInputConfig };
      break;
    case 'HTTPInput': {
      const c = parsed.data as HttpInputConfig;
      const address = parseListenAddress(c.listen, { file, path: keyPath([...configPath, 'listen']) });
      const hooks: HttpInputConfig['hooks'] = {};
      for (const [hook, h] of Object.entries(c.hooks)) {
        hooks[hook] = { ...h, ...(h.hmac_secret_file === undefined ? {} : { hmac_secret_file: absolute(h.hmac_secret_file) }) };
        if (h.event_type !== undefined && h.event_type_header !== undefined) problem(['hooks', hook], 'give "event_type" or "event_type_header", not both');
      }
      // Anyone who can reach a non-loopback address could fire events: refuse to serve
      // an unauthenticated route there.
      if (!isLoopback(address.host)) {
        const why = `${c.listen} is reachable from other hosts: every route needs authentication`;
        if (c.token_file === undefined) problem(['token_file'], `required: ${why} (POST /events takes the bearer token)`);
      }
      const config: HttpInputSettings = { ...c, address, hooks, ...(c.token_file === undefined ? {} : { token_file: absolute(c.token_file) }) };
      spec = { ...common, handler: 'HTTPInput', config };
      break;
    }
    case 'MQTTInput': {
      const c = parsed.data as MqttInputConfig;
      const config = {
        ...c,
        client_id: c.client_id ?? `event-reactor-${hostname()}-${name}`.replace(/[^\w.-]/g, '_').slice(0, 128),
        ...(c.password_file === undefined ? {} : { password_file: absolute(c.password_file) }),
      };
      spec = { ...common, handler: 'MQTTInput', config };
      break;
    }
    case 'TimerInput':
      spec = { ...common, handler: 'TimerInput', config: parsed.data as TimerInputConfig };
      break;
    case 'BeaconInput':
      spec = { ...common, handler: 'BeaconInput', config: parsed.data };
      break;
  }
  return problems.length > 0 ? { problems, warnings } : { spec, problems, warnings };
}

/** Why the TimerInput's cron parser refuses `expression`, or undefined. */
function cronProblem(expression: string, tz: string | undefined): string | undefined {
  const fields = expression.trim().split(/\s+/);
  if (!expression.trim().startsWith('@') && (fields.length < 5 || fields.length > 6))
    return `"${expression}" has ${fields.length} fields: use 5 (minute hour day month weekday) or 6 (seconds first)`;
  // Loaded only when a TimerInput is configured: every command reads the config.
  const { CronExpressionParser } = createRequire(import.meta.url)('cron-parser') as typeof import('cron-parser');
  try {
    CronExpressionParser.parse(expression, { strict: false, ...(tz === undefined ? {} : { tz }) });
    return undefined;
  } catch (err) {
    return `not a cron expression: ${(err as Error).message}`;
  }
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
