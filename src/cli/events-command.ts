import type { Command } from 'commander';
import type { EventDetail, EventSummary } from '../archive/archive.js';
import type { HandlerResult } from '../handlers/result.js';
import { UsageError, formatProblem } from '../errors.js';
import type { ReactorSettings } from '../config/settings.js';
import { addDaemonOptions, loadForReader, parsePositiveInt, reportError, type DaemonFlags } from './common.js';
import { EXIT } from './exit-codes.js';
import { parseTimeArg } from './time-arg.js';

interface ListFlags extends DaemonFlags {
  key?: string;
  since?: string;
  until?: string;
  trace?: string;
  status?: string;
  handler?: string;
  limit?: number;
  json?: boolean;
}

const STATUSES = ['ok', 'error', 'dead'] as const;
const RESULT_STATUSES = ['ok', 'error', 'timeout', 'dead'] as const;

/** `event-reactor events ls | show ID | tail`. */
export function configureEventsCommand(cmd: Command, result: { code: number }): Command {
  cmd.description('Look at the archive: list events with their handlers’ outcomes, show one, follow the live stream');
  const sub = (name: string, description: string): Command => addDaemonOptions(cmd.command(name).exitOverride().description(description));

  sub('ls', 'Events, newest first, one line each with its handlers’ outcomes')
    .option('--key <glob>', 'events whose namespace:event_type matches (fnmatch: local:disk.*)')
    .option('--since <time>', 'from this time: ISO, or a duration back (30m, 1h, 2d)')
    .option('--until <time>', 'before this time: ISO, or a duration back')
    .option('--trace <id>', 'the events of one trace')
    .option('--status <status>', 'ok (every handler ok), error (a handler failed) or dead (dead-lettered)')
    .option('--limit <n>', 'at most this many (default 50)', parsePositiveInt)
    .option('--json', 'one JSON object per line')
    .action(async (flags: ListFlags) => {
      result.code = await withArchive(flags, async (archive) => {
        const status = oneOf(flags.status, STATUSES, '--status');
        const events = await archive.listEvents({
          ...(flags.key === undefined ? {} : { key: flags.key }),
          ...(flags.since === undefined ? {} : { since: parseTimeArg(flags.since, '--since') }),
          ...(flags.until === undefined ? {} : { until: parseTimeArg(flags.until, '--until') }),
          ...(flags.trace === undefined ? {} : { trace: flags.trace }),
          ...(status === undefined ? {} : { status }),
          ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        });
        for (const e of events) say(flags.json ? JSON.stringify(e) : eventLine(e));
        if (!flags.json) process.stderr.write(`${events.length} event(s)\n`);
        return EXIT.OK;
      });
    });

  sub('show', 'An event, every run of its handlers (status, code, duration, data, stderr), its follow-ups and its trace')
    .argument('<id>', 'event id')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: ListFlags) => {
      result.code = await withArchive(flags, async (archive) => {
        const detail = await archive.eventDetail(id);
        if (!detail) {
          process.stderr.write(`events show: no event with id "${id}" in the archive\n`);
          return EXIT.FAILURE;
        }
        say(flags.json ? JSON.stringify(detail, null, 2) : formatDetail(detail));
        return EXIT.OK;
      });
    });

  sub('tail', 'Follow the live stream as the router publishes it (Ctrl-C to stop)')
    .option('--key <glob>', 'only events whose namespace:event_type matches')
    .option('--json', 'print each event as JSON (default: a line each)')
    .action(async (flags: ListFlags) => {
      try {
        const { settings } = await loadForReader(flags);
        const { tailEvents } = await import('./tail-events.js');
        result.code = await tailEvents(settings, flags.key, flags.json === true);
      } catch (err) {
        result.code = reportError(err, 'events tail');
      }
    });
  return cmd;
}

/** `event-reactor results ls`. */
export function configureResultsCommand(cmd: Command, result: { code: number }): Command {
  cmd.description('Look at handler runs in the archive');
  addDaemonOptions(cmd.command('ls').exitOverride().description('Handler runs, newest first'))
    .option('--handler <h>', "a handler's command, id or key")
    .option('--status <s>', 'ok, error, timeout or dead')
    .option('--since <time>', 'from this time: ISO, or a duration back (30m, 1h)')
    .option('--limit <n>', 'at most this many (default 50)', parsePositiveInt)
    .option('--json', 'one JSON object per line')
    .action(async (flags: ListFlags) => {
      result.code = await withArchive(flags, async (archive) => {
        const status = oneOf(flags.status, RESULT_STATUSES, '--status');
        const runs = await archive.listResults({
          ...(flags.handler === undefined ? {} : { handler: flags.handler }),
          ...(status === undefined ? {} : { status }),
          ...(flags.since === undefined ? {} : { since: parseTimeArg(flags.since, '--since') }),
          ...(flags.limit === undefined ? {} : { limit: flags.limit }),
        });
        for (const r of runs) say(flags.json ? JSON.stringify(r) : runLine(r));
        if (!flags.json) process.stderr.write(`${runs.length} run(s)\n`);
        return EXIT.OK;
      });
    });
  return cmd;
}

type Reader = import('../archive/mongo-archive.js').MongoArchive;

/** Load settings (finding `up`'s servers), open the archive read-only, run, close. */
export async function withArchive(flags: DaemonFlags, run: (archive: Reader, settings: ReactorSettings) => Promise<number>): Promise<number> {
  let archive: Reader | undefined;
  try {
    const { settings, warnings } = await loadForReader(flags);
    for (const w of warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
    const { MongoArchive } = await import('../archive/mongo-archive.js');
    const { silentLogger } = await import('../logger.js');
    archive = await MongoArchive.connect({
      ...settings.mongo,
      log: silentLogger(),
      serverSelectionTimeoutMS: 5000,
      ensureIndexes: false,
    });
    return await run(archive, settings);
  } catch (err) {
    return reportError(err, 'event-reactor');
  } finally {
    await archive?.close();
  }
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], option: string): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${option} must be one of ${allowed.join(', ')}, got "${value}"`);
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

const MARK: Record<string, string> = { ok: 'ok', error: 'ERROR', dead: 'DEAD', none: '-' };

export function eventLine(e: EventSummary): string {
  const handlers = e.handlers.map((h) => `${h.handler}=${h.dead ? 'dead' : h.status}${h.runs > 1 ? `(${h.runs} runs)` : ''}`).join(' ');
  return [new Date(e.time).toISOString(), e.id, e.key, MARK[e.outcome] ?? e.outcome, handlers || '(no handler ran)'].join('  ');
}

function runLine(r: HandlerResult): string {
  const what = r.error_code ? `${r.error_code}: ${r.error ?? ''}` : r.code !== undefined ? `exit ${r.code}` : '';
  return [
    new Date(r.start).toISOString(),
    r.event_id,
    r.key,
    `${r.driver}:${r.handler}`,
    r.dead ? 'DEAD' : r.status,
    `${r.duration_ms} ms`,
    `attempt ${r.attempt}`,
    what,
  ]
    .join('  ')
    .trimEnd();
}

/** One decision the subscriber recorded for the event: a handler entry run or skipped, or a correlation it completed. */
function decisionLine(x: Record<string, unknown>): string {
  if (typeof x['correlation'] === 'string') return `completed correlation ${x['correlation']}: fired ${String(x['emit'])} ${String(x['id'])}`;
  const entry = `${String(x['key'])}  ${String(x['handler'])}`;
  if (x['run'] !== true) return `skipped  ${entry}  (${String(x['stage'])}: ${String(x['reason'])})`;
  return typeof x['delay_ms'] === 'number' ? `run after ${x['delay_ms']} ms of quiet  ${entry}` : `run  ${entry}`;
}

function formatDetail(d: EventDetail): string {
  const e = d.event;
  const lines = [`event ${e._id}  ${e.key}  at ${new Date(e.time).toISOString()}  trace ${String(e['trace_id'])}`];
  if (d.chain.length > 1) lines.push(`trace: ${d.chain.map((c) => `${c._id} (${c.key})`).join(' -> ')}`);
  lines.push(`payload: ${JSON.stringify(e['payload'] ?? e['payload_json'] ?? null)}`);
  const decisions = Array.isArray(e['decisions']) ? (e['decisions'] as Record<string, unknown>[]) : [];
  for (const x of decisions) lines.push(`decision: ${decisionLine(x)}`);
  if (d.runs.length === 0) lines.push('handler runs: none');
  for (const r of d.runs) {
    lines.push(
      `- ${r.driver}:${r.handler}  ${r.dead ? 'DEAD ' : ''}${r.status}  run ${r.run}, attempt ${r.attempt}  ${r.duration_ms} ms${r.code !== undefined ? `  exit ${r.code}` : ''}`,
    );
    if (r.error) lines.push(`    error: ${r.error}`);
    if (r.data !== null && r.data !== undefined && r.data !== '')
      lines.push(`    data: ${typeof r.data === 'string' ? r.data.trimEnd() : JSON.stringify(r.data)}`);
    if (r.stderr) lines.push(`    stderr: ${r.stderr.trimEnd()}`);
  }
  for (const f of d.followUps) lines.push(`follow-up: ${f._id} ${f.key} at ${new Date(f.time).toISOString()}`);
  return lines.join('\n');
}
