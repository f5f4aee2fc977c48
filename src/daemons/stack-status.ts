import type { ReactorSettings, SubRouter } from '../config/settings.js';
import type { ArchiveStats } from '../archive/archive.js';
import type { EntryQueueStatus, QueueCounts } from '../queue/queue-counts.js';
import { redact } from '../redact.js';

/** What `event-reactor status` reports; every part says `error` instead when unreachable. */
export interface StatusReport {
  /** The first router (see `routers`). */
  router: RouterStatus;
  /** Every router the subscriber follows (`subscriber.routers`), with the cursor kept for it. */
  routers: RouterStatus[];
  archive: { url: string; database: string; error?: string } & Partial<Omit<ArchiveStats, 'cursors'>> & {
      cursors?: (ArchiveStats['cursors'][number] & { behind?: number | null })[];
    };
  /** `entries`: each per-entry queue's handler, policy and breaker. */
  queues: { url: string; counts?: QueueCounts; entries?: EntryQueueStatus[]; error?: string };
  /** Actor workers (`--actor`) and names jobs were targeted at; `live` by heartbeat. */
  actors?: { list?: { name: string; live: boolean; last_beat_s: number | null }[]; error?: string };
  /** Each daemon part, from its HTTP endpoints (`http.<part>`); `inputs` only when config.json has inputs. */
  daemons: Record<'router' | 'sub' | 'worker', DaemonStatus> & { inputs?: DaemonStatus };
}

/** One router, from its replay socket. */
export interface RouterStatus {
  name?: string;
  cursor: string;
  endpoint: string;
  epoch?: number;
  last_seq?: number;
  buffered?: number;
  buffer_bytes?: number | null;
  first_seq?: number | null;
  journal?: string;
  error?: string;
}

/** One daemon part as its `/healthz` and `/readyz` describe it. */
export interface DaemonStatus {
  url: string;
  up: boolean;
  ready?: boolean;
  /** What it cannot reach, when not ready. */
  missing?: { name: string; error: string }[];
  pid?: number;
  uptime_s?: number;
  /** Hash of the handler table it runs (subscriber and workers), as `handlers_table_info` says. */
  handlers?: string;
  error?: string;
}

export async function collectStatus(settings: ReactorSettings): Promise<StatusReport> {
  const [routers, archive, queues, daemons, actors] = await Promise.all([
    Promise.all(settings.sub.routers.map((r) => routerStatus(settings, r))),
    archiveStatus(settings),
    queueStatus(settings),
    daemonsStatus(settings),
    actorsStatus(settings),
  ]);
  for (const c of archive.cursors ?? []) {
    // With one router every cursor follows it; with several, a cursor is the router's it is named after.
    const router = routers.length === 1 ? routers[0] : routers.find((r) => r.cursor === c.name);
    c.behind = router && router.epoch === c.epoch && router.last_seq !== undefined ? router.last_seq - c.seq : null;
  }
  return { router: routers[0]!, routers, archive, queues, daemons, actors };
}

async function daemonsStatus(s: ReactorSettings): Promise<StatusReport['daemons']> {
  const one = async (part: 'router' | 'sub' | 'worker' | 'inputs'): Promise<DaemonStatus> => {
    const { host, port } = s.http[part];
    const url = `http://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    if (port === 0) return { url, up: false, error: `http.${part} has port 0 (a free port chosen at start): status cannot find it` };
    try {
      const health = (await (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })).json()) as {
        pid?: number;
        uptime_s?: number;
        handlers?: string;
      };
      const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) });
      const body = (await ready.json()) as { missing?: { name: string; error: string }[] };
      return { url, up: true, ready: ready.ok, ...(ready.ok ? {} : { missing: body.missing ?? [] }), ...pick(health) };
    } catch (err) {
      return { url, up: false, error: (err as Error).message };
    }
  };
  const [router, sub, worker, inputs] = await Promise.all([
    one('router'),
    one('sub'),
    one('worker'),
    s.inputs.list.length > 0 ? one('inputs') : Promise.resolve(undefined),
  ]);
  return { router, sub, worker, ...(inputs ? { inputs } : {}) };
}

function pick(h: { pid?: number; uptime_s?: number; handlers?: string }): { pid?: number; uptime_s?: number; handlers?: string } {
  return {
    ...(h.pid === undefined ? {} : { pid: h.pid }),
    ...(h.uptime_s === undefined ? {} : { uptime_s: h.uptime_s }),
    ...(typeof h.handlers === 'string' ? { handlers: h.handlers } : {}),
  };
}

async function routerStatus(s: ReactorSettings, router: SubRouter): Promise<RouterStatus> {
  const { ReplayClient } = await import('../wire/replay-client.js');
  const { clientKeysFor } = await import('../security/key-files.js');
  const client = new ReplayClient(router.replayUri, 2000, clientKeysFor(s.security));
  const which = { ...(router.name === undefined ? {} : { name: router.name }), cursor: router.cursor, endpoint: router.replayUri };
  try {
    const r = await client.status();
    return {
      ...which,
      epoch: r.epoch,
      last_seq: r.last_seq,
      first_seq: r.first_seq,
      buffered: r.buffered,
      buffer_bytes: r.bytes,
      journal: r.journal ?? 'memory',
    };
  } catch (err) {
    return { ...which, error: (err as Error).message };
  } finally {
    client.close();
  }
}

async function archiveStatus(s: ReactorSettings): Promise<StatusReport['archive']> {
  const base = { url: redact(s.mongo.url), database: s.mongo.database };
  const { MongoArchive } = await import('../archive/mongo-archive.js');
  const { silentLogger } = await import('../logger.js');
  let archive;
  try {
    archive = await MongoArchive.connect({
      ...s.mongo,
      log: silentLogger(),
      serverSelectionTimeoutMS: 3000,
      ensureIndexes: false,
    });
    return { ...base, ...(await archive.stats()) };
  } catch (err) {
    return { ...base, error: (err as Error).message };
  } finally {
    await archive?.close();
  }
}

async function queueStatus(s: ReactorSettings): Promise<StatusReport['queues']> {
  const url = redact(s.redisUrl);
  const { readQueueCounts } = await import('../queue/queue-counts.js');
  try {
    return { url, ...(await readQueueCounts(s.redisUrl, s.queue)) };
  } catch (err) {
    return { url, error: (err as Error).message };
  }
}

async function actorsStatus(s: ReactorSettings): Promise<NonNullable<StatusReport['actors']>> {
  const { ActorRegistry } = await import('../queue/actor-registry.js');
  const registry = new ActorRegistry({ redisUrl: s.redisUrl, queue: s.queue, failFast: true });
  try {
    const all = await registry.all();
    return { list: all.map((a) => ({ name: a.name, live: a.live, last_beat_s: a.ageMs === undefined ? null : Math.round(a.ageMs / 100) / 10 })) };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await registry.close();
  }
}
