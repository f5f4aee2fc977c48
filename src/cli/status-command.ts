import type { Command } from 'commander';
import type { ReactorSettings } from '../config/settings.js';
import { loadConfig } from '../config/load.js';
import type { ArchiveStats } from '../archive/archive.js';
import type { QueueCounts } from '../queue/queue-counts.js';
import { redact } from '../redact.js';
import { addDaemonOptions, overridesFrom, reportError, type DaemonFlags } from './common.js';
import { EXIT } from './exit-codes.js';

/** What `event-reactor status` reports; every part says `error` instead when unreachable. */
export interface StatusReport {
  router: { endpoint: string; epoch?: number; last_seq?: number; buffered?: number; buffer_bytes?: number; first_seq?: number | null; error?: string };
  archive: { url: string; database: string; error?: string } & Partial<Omit<ArchiveStats, 'cursors'>> & {
      cursors?: (ArchiveStats['cursors'][number] & { behind?: number | null })[];
    };
  queues: { url: string; counts?: QueueCounts; error?: string };
}

export async function collectStatus(settings: ReactorSettings): Promise<StatusReport> {
  const [router, archive, queues] = await Promise.all([routerStatus(settings), archiveStatus(settings), queueStatus(settings)]);
  for (const c of archive.cursors ?? []) {
    c.behind = router.epoch === c.epoch && router.last_seq !== undefined ? router.last_seq - c.seq : null;
  }
  return { router, archive, queues };
}

async function routerStatus(s: ReactorSettings): Promise<StatusReport['router']> {
  const { ReplayClient } = await import('../wire/replay-client.js');
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
  const { MongoArchive } = await import('../archive/mongo-archive.js');
  const { silentLogger } = await import('../logger.js');
  let archive;
  try {
    archive = await MongoArchive.connect({
      url: s.mongo.url,
      database: s.mongo.database,
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
    return { url, counts: await readQueueCounts(s.redisUrl, s.queue) };
  } catch (err) {
    return { url, error: (err as Error).message };
  }
}

export function formatStatus(r: StatusReport): string {
  const lines: string[] = [];
  const rt = r.router;
  lines.push(
    rt.error
      ? `router    ${rt.endpoint}: UNREACHABLE (${rt.error})`
      : `router    ${rt.endpoint}: epoch ${rt.epoch}, last seq ${rt.last_seq}, replay buffer ${rt.buffered} events (seq ${rt.first_seq ?? '-'}..${rt.last_seq}), ${rt.buffer_bytes} bytes`,
  );
  const a = r.archive;
  if (a.error) {
    lines.push(`archive   ${a.url} ${a.database}: UNREACHABLE (${a.error})`);
  } else {
    const res =
      Object.entries(a.results ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none';
    lines.push(`archive   ${a.url} ${a.database}: ${a.events} events; results: ${res}; dead-lettered ${a.dead}`);
    for (const c of a.cursors ?? [])
      lines.push(
        `cursor    ${c.name}: epoch ${c.epoch} seq ${c.seq}${c.behind === null || c.behind === undefined ? ' (other epoch than the router)' : `, ${c.behind} behind`} (saved ${new Date(c.updated_at).toISOString()})`,
      );
    const g = a.gaps!;
    lines.push(g.count === 0 ? 'gaps      none: no event lost' : `gaps      ${g.count} unrepairable gap(s), ${g.lost} event(s) lost`);
    for (const x of g.latest)
      lines.push(`          ${x.subscriber}: epoch ${x.epoch} seq ${x.from}..${x.to} (${x.reason}) at ${new Date(x.detected_at).toISOString()}`);
  }
  const q = r.queues;
  if (q.error) lines.push(`queues    ${q.url}: UNREACHABLE (${q.error})`);
  else
    for (const [name, c] of Object.entries(q.counts ?? {}))
      lines.push(
        `queue     ${name}: ${Object.entries(c)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
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
