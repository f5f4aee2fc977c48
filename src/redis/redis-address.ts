/**
 * Where Redis is, as one string: the `redis.url` of config.json, `REDIS_URL` and
 * `--redis-url` all take the same forms, so every place that already carries a Redis URL
 * (settings, the CLI's local state, `status`) carries a Sentinel or Cluster address too.
 *
 * - `redis://[[user]:password@]host:port[/db]`, `rediss://...` (TLS): one server, as ioredis reads it.
 * - `redis+sentinel://[[user]:password@]host:port[,host:port...]/<master>[/db][?sentinel_password=...&sentinel_username=...]`:
 *   the sentinels to ask for the primary of `<master>`; the password is the primary's
 *   (and its replicas'), the sentinels' own in the query.
 * - `redis+cluster://[[user]:password@]host:port[,host:port...]`: seed nodes of a Redis
 *   Cluster (database 0 only: a cluster has no other).
 */

/** A host and port of a sentinel or cluster node. */
export interface RedisNode {
  host: string;
  port: number;
}

/** A parsed Redis address. */
export type RedisAddress =
  | { kind: 'standalone'; url: string }
  | {
      kind: 'sentinel';
      sentinels: RedisNode[];
      /** The master name the sentinels monitor. */
      master: string;
      db: number;
      username?: string;
      password?: string;
      sentinelUsername?: string;
      sentinelPassword?: string;
    }
  | { kind: 'cluster'; nodes: RedisNode[]; username?: string; password?: string };

const MULTI_HOST = /^(redis\+sentinel|redis\+cluster):\/\/(?:([^@/?#]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?([^#]*))?$/;
const SENTINEL_QUERY_KEYS = new Set(['sentinel_password', 'sentinel_username']);

/**
 * Parse a Redis address.
 *
 * @throws {Error} saying what is wrong (the caller adds the key path)
 */
export function parseRedisAddress(url: string): RedisAddress {
  if (/^rediss?:\/\//i.test(url)) return { kind: 'standalone', url };
  if (/^rediss\+(sentinel|cluster):\/\//i.test(url))
    throw new Error('TLS to Sentinel or Cluster (rediss+...) is not supported yet; use redis+sentinel:// or redis+cluster://');
  const m = MULTI_HOST.exec(url);
  if (!m) throw new Error('must be redis://, rediss://, redis+sentinel://host:port[,host:port...]/<master>[/db] or redis+cluster://host:port[,host:port...]');
  const kind = m[1] === 'redis+sentinel' ? 'sentinel' : 'cluster';
  const auth = credentials(m[2]);
  const nodes = m[3]!.split(',').map(node);
  const path = (m[4] ?? '').split('/').filter((p) => p !== '');
  const query = new URLSearchParams(m[5] ?? '');
  for (const k of query.keys()) {
    if (kind === 'cluster' || !SENTINEL_QUERY_KEYS.has(k))
      throw new Error(`unknown option "${k}" (${kind === 'cluster' ? 'none are known' : 'known: sentinel_password, sentinel_username'})`);
  }
  if (kind === 'cluster') {
    if (path.length > 0) throw new Error('a Redis Cluster has database 0 only: no path after the nodes');
    return { kind, nodes, ...auth };
  }
  const [master, dbText, ...rest] = path;
  if (master === undefined) throw new Error('needs the master name the sentinels monitor: redis+sentinel://host:port,.../<master>[/db]');
  if (rest.length > 0 || (dbText !== undefined && !/^\d{1,2}$/.test(dbText))) throw new Error('the path is /<master>[/db], db a number');
  const sentinelPassword = query.get('sentinel_password');
  const sentinelUsername = query.get('sentinel_username');
  return {
    kind,
    sentinels: nodes,
    master: decodeURIComponent(master),
    db: dbText === undefined ? 0 : Number(dbText),
    ...auth,
    ...(sentinelPassword !== null ? { sentinelPassword } : {}),
    ...(sentinelUsername !== null ? { sentinelUsername } : {}),
  };
}

/** True for a `redis+cluster://` address (whatever else is wrong with it). */
export function isClusterAddress(url: string): boolean {
  return /^redis\+cluster:\/\//i.test(url);
}

/**
 * A key prefix whose keys all hash to one Redis Cluster slot: `prefix` itself when it
 * already holds a hash tag (`{...}` with something inside), else `{prefix}`. BullMQ's
 * scripts touch several keys of a queue at once, which a cluster allows only in one slot.
 */
export function hashTagged(prefix: string): string {
  const open = prefix.indexOf('{');
  const close = open < 0 ? -1 : prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix : `{${prefix}}`;
}

function credentials(text: string | undefined): { username?: string; password?: string } {
  if (text === undefined || text === '') return {};
  const colon = text.indexOf(':');
  const username = decodeURIComponent(colon < 0 ? text : text.slice(0, colon));
  const password = colon < 0 ? undefined : decodeURIComponent(text.slice(colon + 1));
  // redis://secret@host is ioredis's shorthand for a password without a user; keep it.
  if (password === undefined) return username ? { password: username } : {};
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

function node(text: string): RedisNode {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(text.trim());
  if (!m || Number(m[2]) > 65_535 || Number(m[2]) === 0) throw new Error(`"${text}" is not host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}
