import type { ConnectionOptions } from 'bullmq';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { parseRedisAddress, type RedisAddress } from './redis-address.js';

/**
 * Client options every Redis user of the project may set; the address decides the rest.
 * `retryStrategy` applies to a Cluster as its `clusterRetryStrategy`.
 */
export type RedisClientOptions = Pick<RedisOptions, 'maxRetriesPerRequest' | 'connectionName' | 'lazyConnect' | 'enableOfflineQueue' | 'retryStrategy'>;

/**
 * A client for a Redis address (`redis://`, `rediss://`, `redis+sentinel://`,
 * `redis+cluster://`; see redis-address.ts): an ioredis `Redis` (Sentinel included: ioredis
 * asks the sentinels for the primary at every connect) or an ioredis `Cluster`.
 *
 * Typed as `Redis`: a `Cluster` takes the same commands, pipelines and scripts (each
 * routed by its keys' slot), which is all the project's Redis users do with it; callers
 * that must tell them apart read `isCluster`.
 *
 * @throws {Error} when the address is malformed (config loading refuses such an address first)
 */
export function createRedis(url: string, options: RedisClientOptions): Redis {
  const address = parseRedisAddress(url);
  if (address.kind === 'cluster') return new Cluster(address.nodes, clusterOptions(address, options) as ClusterCtorOptions) as unknown as Redis;
  if (address.kind === 'standalone') return new Redis(address.url, options);
  return new Redis(sentinelOptions(address, options) as RedisCtorOptions);
}

// ioredis's options types and its constructors' disagree on `replyMapping` under
// exactOptionalPropertyTypes (`?: X | undefined` against `?: X`); the objects are the same.
type ClusterCtorOptions = ConstructorParameters<typeof Cluster>[1];
type RedisCtorOptions = RedisOptions & { replyMapping?: 'legacy' };

/** ioredis options for a Sentinel address: the sentinels, the master name, its passwords. */
function sentinelOptions(a: Extract<RedisAddress, { kind: 'sentinel' }>, options: RedisOptions): RedisOptions {
  return {
    ...options,
    sentinels: a.sentinels,
    name: a.master,
    db: a.db,
    ...(a.username !== undefined ? { username: a.username } : {}),
    ...(a.password !== undefined ? { password: a.password } : {}),
    ...(a.sentinelUsername !== undefined ? { sentinelUsername: a.sentinelUsername } : {}),
    ...(a.sentinelPassword !== undefined ? { sentinelPassword: a.sentinelPassword } : {}),
    // A primary demoted to replica while a connection to it lives answers writes with
    // READONLY: reconnect (asking the sentinels again) and resend the command.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
  };
}

type ClusterNodeOptions = NonNullable<ClusterOptions['redisOptions']>;

function clusterOptions(a: Extract<RedisAddress, { kind: 'cluster' }>, options: RedisClientOptions): ClusterOptions & { redisOptions: ClusterNodeOptions } {
  const { lazyConnect, enableOfflineQueue, retryStrategy, ...perNode } = options;
  return {
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
    redisOptions: {
      ...perNode,
      ...(a.username !== undefined ? { username: a.username } : {}),
      ...(a.password !== undefined ? { password: a.password } : {}),
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    },
  };
}

/**
 * Options for BullMQ's `connection`, or (for a cluster) the `Cluster` instance BullMQ must
 * be given, with what closes it: BullMQ creates and closes its own clients from options,
 * but a `Cluster` only exists as an instance, which a `Queue` shares and never closes.
 */
export interface BullConnection {
  connection: ConnectionOptions;
  /** Close what this module created (nothing but a Cluster). Idempotent. */
  close(): Promise<void>;
}

/**
 * The BullMQ connection for a Redis address. `failFast`: commands fail at once while
 * Redis is away and reconnects are tried each second (for readers such as queue counts).
 */
export function bullConnection(url: string, connectionName: string, failFast = false): BullConnection {
  // BullMQ's blocking connections need maxRetriesPerRequest: null.
  const options: RedisClientOptions = {
    maxRetriesPerRequest: null,
    enableOfflineQueue: !failFast,
    connectionName,
    ...(failFast ? { retryStrategy: () => 1000 } : {}),
  };
  const address = parseRedisAddress(url);
  if (address.kind === 'standalone') return { connection: { url: address.url, ...options } as ConnectionOptions, close: () => Promise.resolve() };
  if (address.kind === 'sentinel') return { connection: sentinelOptions(address, options) as ConnectionOptions, close: () => Promise.resolve() };
  // Lazy: a Worker only duplicates it; a Queue connects it on first use.
  const cluster = new Cluster(address.nodes, clusterOptions(address, { ...options, lazyConnect: true }) as ClusterCtorOptions);
  cluster.on('error', () => undefined); // BullMQ listens on its own and reports
  let closing: Promise<void> | undefined;
  return {
    connection: cluster,
    close: () =>
      (closing ??=
        cluster.status === 'wait' || cluster.status === 'end'
          ? Promise.resolve(cluster.disconnect())
          : cluster.quit().then(
              () => undefined,
              () => cluster.disconnect(),
            )),
  };
}

/**
 * Wait until `replicas` replicas have every write this connection made (Redis `WAIT`),
 * at most `timeoutMs`. Sent in a pipeline behind a read of `slotKey` so that on a Cluster
 * it reaches the node that holds that key's slot (the node the writes went to).
 *
 * @returns how many replicas acknowledged
 */
export async function waitForReplicas(client: Pick<Redis, 'pipeline'>, slotKey: string, replicas: number, timeoutMs: number): Promise<number> {
  const pipe = client.pipeline().exists(slotKey).wait(replicas, timeoutMs);
  const results = (await pipe.exec()) ?? [];
  const [err, acked] = results[1] ?? [new Error('no reply to WAIT'), 0];
  if (err) throw err;
  return Number(acked);
}
