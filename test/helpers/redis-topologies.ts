/**
 * Throwaway Redis topologies for tests: a Redis Cluster of three masters, and a primary
 * with replicas watched by three sentinels. Every server listens on a free 127.0.0.1
 * port, keeps its files in one temporary directory, and is stopped (and the directory
 * removed) by `stop()`.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/devstack/free-port.js';
import { pingRedis } from '../../src/devstack/redis-server.js';
import { MongoClient, type Db } from 'mongodb';
import { startRouterDaemon, type RouterDaemon } from '../../src/daemons/router-daemon.js';
import { startSubDaemon, type SubDaemon } from '../../src/daemons/sub-daemon.js';
import { startWorkerDaemon, type WorkerDaemon } from '../../src/daemons/worker-daemon.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { silentLogger } from '../../src/logger.js';
import { eventually, type TestConfig } from './config.js';

const execFileAsync = promisify(execFile);
const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

/** One redis-server (or sentinel) process. */
export interface RedisNodeProcess {
  port: number;
  /** `kill -9` it (no-op when it has exited). */
  kill(): void;
  /** Start it again on the same port and directory (after a kill). */
  restart(): Promise<void>;
  /** SIGSTOP: it holds its connections but reads nothing (a replica stops taking the stream). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  readonly alive: boolean;
}

/** The answer of `redis-cli -p <port> [-a password] <args...>`. */
export async function redisCli(port: number, args: string[], password?: string): Promise<string> {
  const auth = password ? ['--no-auth-warning', '-a', password] : [];
  const { stdout } = await execFileAsync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...auth, ...args], { timeout: 10_000 });
  return stdout.trim();
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Start a redis-server with `conf` (lines of a config file) in `dir`; ready once it answers PING. */
async function startNode(
  dir: string,
  port: number,
  conf: string[],
  options: { sentinel?: boolean; password?: string | undefined } = {},
): Promise<RedisNodeProcess> {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'redis.conf');
  writeFileSync(file, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, 'daemonize no', ...conf].join('\n') + '\n', { mode: 0o600 });
  let child: ChildProcess | undefined;
  let exited = true;
  const launch = async (): Promise<void> => {
    const fd = openSync(join(dir, 'redis.log'), 'a');
    try {
      child = spawn(REDIS_SERVER, options.sentinel ? [file, '--sentinel'] : [file], { cwd: dir, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    exited = false;
    child.once('exit', () => (exited = true));
    await until(() => pingRedis('127.0.0.1', port, options.password && !options.sentinel ? { password: options.password } : {}), `redis on ${port}`);
  };
  await launch();
  return {
    port,
    kill: () => {
      if (!exited) child?.kill('SIGKILL');
    },
    restart: launch,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    get alive() {
      return !exited;
    },
  };
}

/** A running topology: its address for `redis.url`, and `stop()`. */
export interface RedisTopology {
  url: string;
  password: string;
  stop(): Promise<void>;
}

export interface RedisCluster extends RedisTopology {
  nodes: RedisNodeProcess[];
}

/** A Redis Cluster of `masters` masters (no replicas), all slots assigned, state ok. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const base = await mkdtemp(join(tmpdir(), 'er-redis-cluster-'));
  const password = randomBytes(12).toString('hex');
  const nodes: RedisNodeProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const n of nodes) n.kill();
    await rm(base, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const conf = [
        'cluster-enabled yes',
        'cluster-config-file nodes.conf',
        'cluster-node-timeout 5000',
        'save ""',
        'appendonly no',
        `requirepass ${password}`,
        `masterauth ${password}`,
      ];
      nodes.push(await startNode(join(base, String(port)), port, conf, { password }));
    }
    await redisCli(nodes[0]!.port, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], password);
    for (const n of nodes)
      await until(async () => /cluster_state:ok/.test(await redisCli(n.port, ['cluster', 'info'], password)), `cluster state ok on ${n.port}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis+cluster://:${password}@${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`, password, nodes, stop };
}

export interface SentinelGroup extends RedisTopology {
  /** The data nodes: the first started as primary, the others as its replicas. */
  servers: RedisNodeProcess[];
  sentinels: RedisNodeProcess[];
  master: string;
  /** The port of the primary the sentinels name now. */
  primaryPort(): Promise<number>;
  /** Wait until the sentinels name a primary other than `oldPort` and it takes writes; resolves with its port. */
  failedOver(oldPort: number, timeoutMs?: number): Promise<number>;
}

/**
 * A primary, `replicas` replicas and three sentinels (quorum 2) watching them as master
 * `er`; a primary silent for 1 s is taken as down. `durable`: each data node keeps an
 * append-only file fsynced at every write.
 */
export async function startSentinelGroup(options: { replicas?: number; durable?: boolean } = {}): Promise<SentinelGroup> {
  const base = await mkdtemp(join(tmpdir(), 'er-redis-sentinel-'));
  const password = randomBytes(12).toString('hex');
  const master = 'er';
  const servers: RedisNodeProcess[] = [];
  const sentinels: RedisNodeProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const n of [...sentinels, ...servers]) n.kill();
    await rm(base, { recursive: true, force: true });
  };
  const primaryPort = async (): Promise<number> => {
    for (const s of sentinels) {
      if (!s.alive) continue;
      const reply = await redisCli(s.port, ['sentinel', 'get-master-addr-by-name', master]).catch(() => '');
      const port = Number(reply.split('\n')[1]);
      if (port > 0) return port;
    }
    throw new Error('no sentinel names a primary');
  };
  try {
    const persistence = options.durable ? ['appendonly yes', 'appendfsync always'] : ['appendonly no'];
    const common = ['save ""', ...persistence, `requirepass ${password}`, `masterauth ${password}`];
    const primary = await freePort();
    servers.push(await startNode(join(base, String(primary)), primary, common, { password }));
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      const port = await freePort();
      servers.push(await startNode(join(base, String(port)), port, [...common, `replicaof 127.0.0.1 ${primary}`], { password }));
    }
    for (const r of servers.slice(1))
      await until(async () => /master_link_status:up/.test(await redisCli(r.port, ['info', 'replication'], password)), `replica ${r.port} in sync`);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = [
        `sentinel monitor ${master} 127.0.0.1 ${primary} 2`,
        `sentinel auth-pass ${master} ${password}`,
        `sentinel down-after-milliseconds ${master} 1000`,
        `sentinel failover-timeout ${master} 10000`,
        `sentinel parallel-syncs ${master} 1`,
      ];
      sentinels.push(await startNode(join(base, String(port)), port, conf, { sentinel: true }));
    }
    // Ready for a failover once every sentinel knows the replicas and the other sentinels.
    for (const s of sentinels)
      await until(async () => {
        const info = await redisCli(s.port, ['info', 'sentinel']);
        const m = new RegExp(`name=${master},status=ok,address=[^,]+,slaves=(\\d+),sentinels=(\\d+)`).exec(info);
        return m !== null && Number(m[1]) === servers.length - 1 && Number(m[2]) === 3;
      }, `sentinel ${s.port} to see the group`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `redis+sentinel://:${password}@${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${master}`,
    password,
    servers,
    sentinels,
    master,
    stop,
    primaryPort,
    failedOver: async (oldPort, timeoutMs = 60_000) => {
      let now = oldPort;
      await until(
        async () => {
          now = await primaryPort();
          return now !== oldPort && /role:master/.test(await redisCli(now, ['info', 'replication'], password));
        },
        'the sentinels to promote a replica',
        timeoutMs,
      );
      return now;
    },
  };
}

/** The three daemons in this process on `settings`, a REQ client to the router, and the archive. */
export interface InProcessStack {
  client: RouterClient;
  db: Db;
  router: RouterDaemon;
  sub: SubDaemon;
  worker: WorkerDaemon;
  close(): Promise<void>;
}

/** Start router, subscriber and worker on `cfg`; resolves once a probe event is archived. `close()` is idempotent. */
export async function startInProcessStack(cfg: TestConfig, mongoUrl: string): Promise<InProcessStack> {
  const log = silentLogger();
  const closers: (() => Promise<void> | void)[] = [];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      for (const c of closers.reverse()) await c();
    })());
  try {
    const router = await startRouterDaemon(cfg.settings, log);
    closers.push(() => router.close());
    const sub = await startSubDaemon(cfg.settings, log);
    closers.push(() => sub.close());
    const worker = await startWorkerDaemon(cfg.settings, log);
    closers.push(() => worker.close());
    const client = new RouterClient({ uri: router.endpoints.rep[0]!, timeoutMs: 10_000, retries: 5 });
    closers.push(() => client.close());
    const mongo = new MongoClient(mongoUrl);
    closers.push(() => mongo.close());
    const db = mongo.db(cfg.database);
    await eventually(
      async () => {
        const probe = await client.send({ event_type: 'probe' });
        return eventually(() => db.collection('events').findOne({ _id: probe.id as never }), 'probe archived', 500).catch(() => null);
      },
      'subscriber to join',
      60_000,
    );
    return { client, db, router, sub, worker, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Per event id, how many times it is archived, and per (event, handler entry) how many
 * `ok` results it has: every count must be exactly one.
 */
export async function exactlyOnce(
  db: Db,
  ids: readonly string[],
  handlersPerEvent: number,
): Promise<{ archived: number; results: number; duplicates: number; missing: number }> {
  const events = await db
    .collection('events')
    .aggregate<{ _id: string; n: number }>([{ $match: { _id: { $in: ids } } }, { $group: { _id: '$_id', n: { $sum: 1 } } }])
    .toArray();
  const results = await db
    .collection('results')
    .aggregate<{ _id: { e: string; h: string }; n: number }>([
      { $match: { event_id: { $in: ids }, status: 'ok' } },
      { $group: { _id: { e: '$event_id', h: '$handler_id' }, n: { $sum: 1 } } },
    ])
    .toArray();
  const duplicates = events.filter((e) => e.n > 1).length + results.filter((r) => r.n > 1).length;
  const missing = ids.length - events.length + (ids.length * handlersPerEvent - results.length);
  return { archived: events.length, results: results.length, duplicates, missing };
}
