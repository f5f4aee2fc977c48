import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { toPinoLevel } from '../logger.js';
import { configFileSchema, zmqInputConfigSchema, type ConfigFile } from './schema.js';
import { connectUri, DEFAULT_CONFIG_PATH, resolveFrom } from './paths.js';
import { unknownKeys } from './unknown-keys.js';
import { parseListenAddress, type ListenAddress } from '../http/listen-address.js';
import type { ReactorSettings } from './settings.js';
import { isInputHandler, parseInputFeeder, type InputSpec } from './inputs.js';
import { hashTagged, isClusterAddress, parseRedisAddress } from '../redis/redis-address.js';

/** Values that win over config.json (from command-line flags). */
export interface ConfigOverrides {
  /** `--http`: the address of the daemon part (or web console) being started. */
  http?: { part: 'router' | 'sub' | 'worker' | 'inputs' | 'web'; address: string };
  logLevel?: string;
  redisUrl?: string;
  mongoUrl?: string;
  handlersFile?: string;
  handlersDir?: string;
  concurrency?: number;
  /** `event-worker --actor [--host-name NAME]`: the actor name this worker answers to. */
  actor?: string;
}

export interface LoadConfigOptions {
  /** Path from `-c/--config`; falls back to `EVENT_REACTOR_CONFIG`, then the default path. */
  path?: string | undefined;
  env?: NodeJS.ProcessEnv;
  overrides?: ConfigOverrides;
}

export interface LoadedConfig {
  settings: ReactorSettings;
  /** Keys that were ignored, each named with file and key path. */
  warnings: ConfigProblem[];
}

/** Parse a JSON file, reporting a missing file or bad JSON as a ConfigError naming the file. */
export function readJsonFile(file: string): unknown {
  return readJsonText(file).value;
}

/** {@link readJsonFile}, with the file's text as read. */
export function readJsonText(file: string): { value: unknown; text: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError([{ file, path: '', message: why }], { cause: err });
  }
  try {
    return { value: JSON.parse(text), text };
  } catch (err) {
    throw new ConfigError([{ file, path: '', message: `not valid JSON: ${(err as Error).message}` }], { cause: err });
  }
}

/** `outputs[0].config.port` from a zod issue path. */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    // An empty key would vanish from the path; quote it so the line still names it.
    else if (part === '') out += out ? '.""' : '""';
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

export function zodProblems(file: string, error: z.ZodError, prefix: readonly PropertyKey[] = []): ConfigProblem[] {
  return error.issues.map((issue) => ({ file, path: keyPath([...prefix, ...issue.path]), message: issue.message }));
}

/** Read and validate config.json; every problem is reported at once. */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = resolve(options.path ?? env['EVENT_REACTOR_CONFIG'] ?? DEFAULT_CONFIG_PATH);
  const raw = readJsonFile(file);
  return buildSettings(file, raw, env, options.overrides ?? {});
}

/** Validate an already-parsed config.json. Exposed for tests and `check-config`. */
export function buildSettings(file: string, raw: unknown, env: NodeJS.ProcessEnv, overrides: ConfigOverrides): LoadedConfig {
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(zodProblems(file, parsed.error));
  const cfg: ConfigFile = parsed.data;
  const problems: ConfigProblem[] = [];
  const warnings: ConfigProblem[] = [];
  const warn = (path: string, message: string): void => {
    warnings.push({ file, path, message });
  };

  for (const path of unknownKeys(configFileSchema, raw)) {
    if (path.length === 1 && path[0] === 'celery')
      warn('celery', 'EventReactor\'s Celery settings are not used: handlers run on BullMQ workers configured by "redis" and "worker"; ignored');
    else warn(keyPath(path), 'unknown key; ignored');
  }
  if (cfg.logging.format !== undefined) warn('logging.format', 'Python logging format is not used: logs are JSON lines (pino); ignored');

  const agg = cfg.aggregator?.config ?? {};
  const pullBind = endpoint(agg, 45454);

  const rep: { bind: string; namespace: string }[] = [];
  const feedersPath = cfg.feeds?.feeders ? 'feeds.feeders' : 'inputs';
  const feeders = cfg.feeds?.feeders ?? cfg.inputs ?? [{ handler: 'ZMQInput', config: { uri: 'tcp://*:55055', namespace: 'local' } }];
  const inputs: InputSpec[] = [];
  const inputNames = new Set<string>();
  feeders.forEach((feeder, i) => {
    const at = `${feedersPath}[${i}]`;
    const handler = feeder.handler;
    if (handler !== 'ZMQInput') {
      if (!isInputHandler(handler)) {
        warn(`${at}.handler`, `feeder "${handler}" is not supported (ZMQInput, AMQPInput, HTTPInput, MQTTInput, TimerInput, BeaconInput); ignored`);
        return;
      }
      // Default names: the handler, numbered from the second of a kind on.
      const sameKind = feeders.slice(0, i).filter((f) => f.handler === handler).length;
      const name = feeder.name ?? (sameKind === 0 ? handler : `${handler}-${sameKind + 1}`);
      if (inputNames.has(name)) {
        problems.push({ file, path: `${at}.name`, message: `another input is named "${name}": give each its own "name"` });
        return;
      }
      inputNames.add(name);
      const r = parseInputFeeder(file, pathOf(at), at, { ...feeder, handler }, name, keyPath);
      problems.push(...r.problems);
      warnings.push(...r.warnings);
      if (r.spec) inputs.push(r.spec);
      return;
    }
    const fc = zmqInputConfigSchema.safeParse(feeder.config ?? {});
    for (const path of unknownKeys(zmqInputConfigSchema, feeder.config, [...pathOf(at), 'config'])) warn(keyPath(path), 'unknown key; ignored');
    if (!fc.success) {
      problems.push(...zodProblems(file, fc.error, [...pathOf(at), 'config']));
      return;
    }
    if (fc.data.type !== undefined && !/^(zmq\.)?REP$/i.test(fc.data.type)) {
      problems.push({ file, path: `${at}.config.type`, message: `ZMQInput feeders are REP sockets; got "${fc.data.type}"` });
      return;
    }
    rep.push({ bind: fc.data.uri, namespace: fc.data.namespace ?? feeder.namespace ?? 'local', ...(fc.data.namespaces ? { scope: fc.data.namespaces } : {}) });
  });

  const outputs = cfg.outputs ?? [{ handler: 'zeromq', config: { port: 55000 } }];
  let pub: { bind: string; framing: 'multipart' | 'legacy'; hwm: number } | undefined;
  outputs.forEach((out, i) => {
    if (out.handler !== 'zeromq') {
      warn(`outputs[${i}].handler`, `output "${out.handler}" is not supported (only zeromq); ignored`);
      return;
    }
    if (pub) {
      warn(`outputs[${i}]`, 'only the first zeromq output is used; ignored');
      return;
    }
    const oc = out.config ?? {};
    pub = {
      bind: endpoint(oc, 55000),
      framing: oc.framing ?? 'multipart',
      hwm: oc.sndhwm ?? pubHighWaterMark(cfg.router.pub_memory_bytes, cfg.router.max_event_bytes),
    };
  });
  if (!pub) problems.push({ file, path: 'outputs', message: 'needs one output with "handler": "zeromq"' });

  const levelName = overrides.logLevel ?? env['EVENT_REACTOR_LOG_LEVEL'] ?? cfg.logging.loglevel;
  const logLevel = toPinoLevel(levelName);
  if (!logLevel) problems.push({ file, path: 'logging.loglevel', message: `unknown level "${levelName}" (use DEBUG, INFO, WARNING, ERROR or CRITICAL)` });

  const redisUrl = overrides.redisUrl ?? (env['REDIS_URL'] || undefined) ?? cfg.redis.url;
  if (redisUrl !== cfg.redis.url) {
    try {
      parseRedisAddress(redisUrl);
    } catch (err) {
      problems.push({ file, path: 'redis.url', message: `${overrides.redisUrl !== undefined ? '--redis-url' : 'REDIS_URL'}: ${(err as Error).message}` });
    }
  }

  if (problems.length > 0 || !pub || !logLevel) throw new ConfigError(problems);

  const httpAddress = (part: 'router' | 'sub' | 'worker' | 'inputs' | 'web'): ListenAddress =>
    overrides.http?.part === part
      ? parseListenAddress(overrides.http.address, { file: '--http', path: '' })
      : parseListenAddress(cfg.http[part], { file, path: `http.${part}` });
  const firstRep = rep[0];
  const { router, subscriber, worker, queue } = cfg;
  const replayBind = router.replay_bind;
  const settings: ReactorSettings = {
    configFile: file,
    logLevel,
    router: {
      pullBind,
      pullNamespace: agg.namespace ?? 'local',
      ...(agg.namespaces ? { pullScope: agg.namespaces } : {}),
      rep,
      pubBind: pub.bind,
      framing: pub.framing,
      pubHighWaterMark: pub.hwm,
      maxEventBytes: router.max_event_bytes,
      maxHops: router.max_hops,
      refusalLogIntervalMs: router.refusal_log_interval_ms,
      replayBind,
      replayMaxEvents: router.replay_max_events,
      replayMaxBytes: router.replay_max_bytes,
      journal: router.journal,
      name:
        router.name ??
        hostname()
          .replace(/[^A-Za-z0-9._-]/g, '_')
          .slice(0, 64),
    },
    sub: {
      publisherUri: subscriber.routers?.[0]?.publisher_uri ?? subscriber.publisher_uri ?? connectUri(pub.bind),
      batchSize: subscriber.batch_size,
      batchMs: subscriber.batch_ms,
      replayUri: subscriber.routers?.[0]?.replay_uri ?? subscriber.replay_uri ?? connectUri(replayBind),
      name: subscriber.name,
      routers: subscriber.routers
        ? subscriber.routers.map((r) => ({ name: r.name, publisherUri: r.publisher_uri, replayUri: r.replay_uri, cursor: `${subscriber.name}@${r.name}` }))
        : [
            {
              name: undefined,
              publisherUri: subscriber.publisher_uri ?? connectUri(pub.bind),
              replayUri: subscriber.replay_uri ?? connectUri(replayBind),
              cursor: subscriber.name,
            },
          ],
    },
    worker: {
      concurrency: overrides.concurrency ?? worker.concurrency,
      timeoutMs: worker.timeout * 1000,
      outputLimitBytes: worker.output_limit,
      routerUri: worker.router_uri ?? (firstRep ? connectUri(firstRep.bind) : undefined),
      retries: worker.retries,
      backoffMs: worker.backoff * 1000,
      shutdownGraceMs: worker.shutdown_grace * 1000,
      lockDurationMs: worker.lock_duration * 1000,
      python: worker.python,
      actorWaitMs: worker.actor_wait * 1000,
      ...(overrides.actor === undefined ? {} : { actor: overrides.actor }),
    },
    inputs: {
      routerUri: cfg.feeds.router_uri ?? (firstRep ? connectUri(firstRep.bind) : undefined),
      routerTimeoutMs: cfg.feeds.router_timeout * 1000,
      list: inputs,
    },
    // A cluster runs a script only on keys of one slot: BullMQ's keys share their prefix's tag.
    queue: { name: queue.name, prefix: isClusterAddress(redisUrl) ? hashTagged(queue.prefix) : queue.prefix },
    redisUrl,
    redisWait: { replicas: cfg.redis.wait_replicas, timeoutMs: cfg.redis.wait_timeout_ms },
    mongo: {
      url: overrides.mongoUrl ?? (env['MONGO_URL'] || undefined) ?? cfg.mongodb.url,
      database: cfg.mongodb.database,
      writeConcern: writeConcern(cfg.mongodb.write_concern),
      readPreference: cfg.mongodb.read_preference,
    },
    handlersDir: overrides.handlersDir ? resolve(overrides.handlersDir) : resolveFrom(file, cfg.event_handlers_dir),
    handlersFile: overrides.handlersFile ? resolve(overrides.handlersFile) : resolveFrom(file, cfg.event_handlers),
    security: {
      curve: cfg.security.curve,
      keysDir: resolveFrom(file, cfg.security.keys_dir),
      allowInsecure: cfg.security.allow_insecure,
      clients: new Map(Object.entries(cfg.security.clients).map(([name, c]) => [name, c.namespaces ? { namespaces: c.namespaces } : {}])),
    },
    secretsDir: resolveFrom(file, cfg.secrets_dir),
    retention: { eventsDays: cfg.archive.retention_days, resultsDays: cfg.archive.results_retention_days },
    http: {
      router: httpAddress('router'),
      sub: httpAddress('sub'),
      worker: httpAddress('worker'),
      inputs: httpAddress('inputs'),
      web: httpAddress('web'),
    },
    web: { tokenFile: cfg.web.token_file === undefined ? undefined : resolveFrom(file, cfg.web.token_file) },
  };
  return { settings, warnings };
}

/** `mongodb.write_concern` in the driver's words; undefined when unset or empty. */
function writeConcern(wc: ConfigFile['mongodb']['write_concern']): ReactorSettings['mongo']['writeConcern'] {
  if (!wc) return undefined;
  const out = {
    ...(wc.w !== undefined ? { w: wc.w } : {}),
    ...(wc.j !== undefined ? { journal: wc.j } : {}),
    ...(wc.wtimeout_ms !== undefined ? { wtimeoutMS: wc.wtimeout_ms } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

function pathOf(dotted: string): PropertyKey[] {
  const out: PropertyKey[] = [];
  for (const m of dotted.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : (m[1] as string));
  return out;
}

function endpoint(
  c: { uri?: string | undefined; protocol?: string | undefined; listen_address?: string | undefined; port?: number | undefined },
  defaultPort: number,
): string {
  if (c.uri) return c.uri;
  const protocol = c.protocol ?? 'tcp';
  if (protocol === 'ipc') return `ipc://${c.listen_address ?? '/tmp/event-reactor.ipc'}`;
  return `tcp://${c.listen_address ?? '*'}:${c.port ?? defaultPort}`;
}

/** Least PUB high-water mark, whatever the budget. */
const MIN_PUB_HWM = 16;

/**
 * The PUB high-water mark for a memory budget: per subscriber the router holds at most
 * `hwm x max_event_bytes` bytes of unsent events, so `hwm = floor(budget / max_event_bytes)`,
 * at least 16. A subscriber that stops reading costs the router no more than that, and
 * loses what is dropped beyond it to a gap it repairs from the replay buffer.
 */
export function pubHighWaterMark(budgetBytes: number, maxEventBytes: number): number {
  return Math.max(MIN_PUB_HWM, Math.floor(budgetBytes / maxEventBytes));
}
