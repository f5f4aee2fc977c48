import type { Command } from 'commander';
import { Queue } from 'bullmq';
import { MongoClient } from 'mongodb';
import type { ReactorSettings } from '../config/settings.js';
import { loadConfig } from '../config/load.js';
import { CURSORS_COLLECTION, EVENTS_COLLECTION, GAPS_COLLECTION, RESULTS_COLLECTION } from '../archive/mongo-archive.js';
import { redact } from '../redact.js';
import { queueNames, redisConnection } from '../queue/connection.js';
import { ReplayClient } from '../wire/replay-client.js';
import { addDaemonOptions, overridesFrom, reportError, type DaemonFlags } from './common.js';
import { EXIT } from './exit-codes.js';
import { settlesWithin } from '../lifecycle/settles-within.js';

/** What `event-reactor status` reports; every part says `error` instead when unreachable. */
export interface StatusReport {
  router: { endpoint: string; epoch?: number; last_seq?: number; buffered?: number; buffer_bytes?: number; first_seq?: number | null; error?: string };
  archive: {
    url: string;
    database: string;
    events?: number;
    results?: Record<string, number>;
    dead?: number;
    cursors?: { name: string; epoch: number; seq: number; updated_at: Date; behind?: number | null }[];
    gaps?: { count: number; lost: number; latest: { subscriber: string; epoch: number; from: number; to: number; reason: string; detected_at: Date }[] };
    error?: string;
  };
  queues: { url: string; counts?: Record<string, Record<string, number>>; error?: string };
}

export async function collectStatus(settings: ReactorSettings): Promise<StatusReport> {
  const [router, archive, queues] = await Promise.all([routerStatus(settings), archiveStatus(settings), queueStatus(settings)]);
  for (const c of archive.cursors ?? []) {
    c.behind = router.epoch === c.epoch && router.last_seq !== undefined ? router.last_seq - c.seq : null;
  }
  return { router, archive, queues };
}

async function routerStatus(s: ReactorSettings): Promise<StatusReport['router']> {
  const client = new ReplayClient(s.sub.replayUri, 2000);
  try {
    const r = await client.status();
    return { endpoint: s.sub.replayUri, epoch: r.epoch, last_seq: r.last_seq, first_seq: r.first_seq, buffered: r.buffered, buffer_bytes: r.bytes };
  } catch (err) {
    return { endpoint: s.sub.replayUri, error: (err as Error).message };
  } finally {
    client.close();
  }
}

async function archiveStatus(s: ReactorSettings): Promise<StatusReport['archive']> {
  const base = { url: redact(s.mongo.url), database: s.mongo.database };
  const client = new MongoClient(s.mongo.url, { serverSelectionTimeoutMS: 3000 });
  try {
    await client.connect();
    const db = client.db(s.mongo.database);
    const byStatus = await db.collection(RESULTS_COLLECTION).aggregate<{ _id: string; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }]).toArray();
    const gaps = db.collection(GAPS_COLLECTION);
    const lost = await gaps.aggregate<{ n: number; lost: number }>([{ $group: { _id: null, n: { $sum: 1 }, lost: { $sum: '$count' } } }]).toArray();
    return {
      ...base,
      events: await db.collection(EVENTS_COLLECTION).estimatedDocumentCount(),
      results: Object.fromEntries(byStatus.map((r) => [r._id, r.n])),
      dead: await db.collection(RESULTS_COLLECTION).countDocuments({ dead: true }),
      cursors: (await db.collection(CURSORS_COLLECTION).find().toArray()).map((c) => ({ name: String(c._id), epoch: c['epoch'], seq: c['seq'], updated_at: c['updated_at'] })),
      gaps: {
        count: lost[0]?.n ?? 0,
        lost: lost[0]?.lost ?? 0,
        latest: (await gaps.find().sort({ detected_at: -1 }).limit(5).toArray()).map((g) => ({
          subscriber: g['subscriber'],
          epoch: g['epoch'],
          from: g['from'],
          to: g['to'],
          reason: g['reason'],
          detected_at: g['detected_at'],
        })),
      },
    };
  } catch (err) {
    return { ...base, error: (err as Error).message };
  } finally {
    await client.close();
  }
}

async function queueStatus(s: ReactorSettings): Promise<StatusReport['queues']> {
  const url = redact(s.redisUrl);
  const names = queueNames(s.queue.name);
  const connection = { ...redisConnection(s.redisUrl), enableOfflineQueue: false, retryStrategy: () => null };
  const queues = [names.normal, names.exclusive].map((n) => new Queue(n, { connection, prefix: s.queue.prefix }));
  for (const q of queues) q.on('error', () => undefined);
  try {
    const counts: Record<string, Record<string, number>> = {};
    for (const q of queues) {
      const reading = q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
      if (!(await settlesWithin(reading, 3000))) throw new Error('no answer within 3000 ms');
      counts[q.name] = await reading;
    }
    return { url, counts };
  } catch (err) {
    return { url, error: (err as Error).message };
  } finally {
    await Promise.allSettled(queues.map((q) => q.close()));
  }
}

export function formatStatus(r: StatusReport): string {
  const lines: string[] = [];
  const rt = r.router;
  lines.push(rt.error ? `router    ${rt.endpoint}: UNREACHABLE (${rt.error})` : `router    ${rt.endpoint}: epoch ${rt.epoch}, last seq ${rt.last_seq}, replay buffer ${rt.buffered} events (seq ${rt.first_seq ?? '-'}..${rt.last_seq}), ${rt.buffer_bytes} bytes`);
  const a = r.archive;
  if (a.error) {
    lines.push(`archive   ${a.url} ${a.database}: UNREACHABLE (${a.error})`);
  } else {
    const res = Object.entries(a.results ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
    lines.push(`archive   ${a.url} ${a.database}: ${a.events} events; results: ${res}; dead-lettered ${a.dead}`);
    for (const c of a.cursors ?? []) lines.push(`cursor    ${c.name}: epoch ${c.epoch} seq ${c.seq}${c.behind === null || c.behind === undefined ? ' (other epoch than the router)' : `, ${c.behind} behind`} (saved ${new Date(c.updated_at).toISOString()})`);
    const g = a.gaps!;
    lines.push(g.count === 0 ? 'gaps      none: no event lost' : `gaps      ${g.count} unrepairable gap(s), ${g.lost} event(s) lost`);
    for (const x of g.latest) lines.push(`          ${x.subscriber}: epoch ${x.epoch} seq ${x.from}..${x.to} (${x.reason}) at ${new Date(x.detected_at).toISOString()}`);
  }
  const q = r.queues;
  if (q.error) lines.push(`queues    ${q.url}: UNREACHABLE (${q.error})`);
  else for (const [name, c] of Object.entries(q.counts ?? {})) lines.push(`queue     ${name}: ${Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export function configureStatusCommand(cmd: Command, result: { code: number }): Command {
  addDaemonOptions(cmd.description('Show the router position and replay buffer, archive counts, subscriber cursors, lost events and queue depths'));
  return cmd.option('--json', 'print JSON').action(async (flags: DaemonFlags & { json?: boolean }) => {
    try {
      const { settings } = loadConfig({ path: flags.config, overrides: overridesFrom(flags) });
      const report = await collectStatus(settings);
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
      const down = report.router.error || report.archive.error || report.queues.error;
      result.code = down ? EXIT.UNAVAILABLE : EXIT.OK;
    } catch (err) {
      result.code = reportError(err, 'event-reactor status');
    }
  });
}
