import type { Command } from 'commander';
import { pino } from 'pino';
import { formatProblem } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import type { ReactorSettings } from '../config/settings.js';
import type { DeadLetters, DeadJob } from '../queue/dead-letters.js';
import { EXIT } from './exit-codes.js';
import { addDaemonOptions, loadForReader, reportError, type DaemonFlags } from './common.js';

const HELP_AFTER = `
The dead-letter queue holds handler jobs that failed their last attempt (BullMQ's failed
set of each handler entry's queue and of each actor's queue). Each attempt's result is in MongoDB "results";
the last one has "dead": true.

Exit codes: 0 done · 1 the job id is not in the dead-letter queue · 64 usage
  69 Redis or MongoDB unreachable · 78 configuration error`;

interface DlqFlags extends DaemonFlags {
  json?: boolean;
  all?: boolean;
}

type Run = (dl: DeadLetters, settings: ReactorSettings, log: Logger) => Promise<number>;

/** `event-reactor dlq list | show <jobId> | retry <jobId>|--all | purge <jobId>|--all`. */
export function configureDlqCommand(cmd: Command, result: { code: number }): Command {
  cmd.description('Inspect, retry and purge dead jobs (handler jobs that failed their last attempt)').addHelpText('after', HELP_AFTER);
  const sub = (name: string, description: string): Command =>
    addDaemonOptions(cmd.command(name).exitOverride().description(description)).addHelpText('after', HELP_AFTER);

  sub('list', 'One line per dead job: id, key, handler, attempts, failed at, reason')
    .option('--json', 'print a JSON array instead')
    .action(async (flags: DlqFlags) => {
      result.code = await withDeadLetters(flags, async (dl) => {
        const jobs = await dl.list();
        if (flags.json) process.stdout.write(`${JSON.stringify(jobs.map(summary), null, 2)}\n`);
        else for (const j of jobs) process.stdout.write(`${line(j)}\n`);
        process.stderr.write(`${jobs.length} dead job(s)\n`);
        return EXIT.OK;
      });
    });

  sub('show', 'Print a dead job (event, handler) and its results from MongoDB as JSON')
    .argument('<jobId>', 'job id, as printed by "dlq list"')
    .action(async (jobId: string, flags: DlqFlags) => {
      result.code = await withDeadLetters(flags, async (dl, settings, log) => {
        const job = await dl.get(jobId);
        if (!job) return notFound(jobId, settings);
        const { MongoArchive } = await import('../archive/mongo-archive.js');
        const archive = await MongoArchive.connect({
          ...settings.mongo,
          log,
          serverSelectionTimeoutMS: 5000,
          ensureIndexes: false,
        });
        try {
          const results = await archive.resultsForJob(job.id);
          process.stdout.write(`${JSON.stringify({ ...summary(job), event: job.data.event, handler_spec: job.data.handler, results }, null, 2)}\n`);
        } finally {
          await archive.close();
        }
        return EXIT.OK;
      });
    });

  const oneOrAll = (
    verb: 'retry' | 'purge',
    done: string,
    description: string,
    all: string,
    one: (dl: DeadLetters, id: string) => Promise<boolean>,
    every: (dl: DeadLetters) => Promise<number>,
  ): void => {
    sub(verb, description)
      .argument('[jobId]', 'job id, as printed by "dlq list"')
      .option('--all', all)
      .action(async (jobId: string | undefined, flags: DlqFlags) => {
        result.code =
          oneTarget(verb, jobId, flags.all) ??
          (await withDeadLetters(flags, async (dl, settings) => {
            if (jobId === undefined) return report(done, await every(dl));
            return (await one(dl, jobId)) ? report(done, 1) : notFound(jobId, settings);
          }));
      });
  };
  oneOrAll(
    'retry',
    'retried',
    'Put a dead job (or all of them) back in its queue with its attempts reset',
    'retry every dead job',
    (dl, id) => dl.retry(id),
    (dl) => dl.retryAll(),
  );
  oneOrAll(
    'purge',
    'purged',
    'Delete a dead job (or all of them) from Redis; results stay in MongoDB',
    'delete every dead job',
    (dl, id) => dl.purge(id),
    (dl) => dl.purgeAll(),
  );
  return cmd;
}

/** Load config (warnings to stderr), then run with a DeadLetters that is always closed. */
async function withDeadLetters(flags: DlqFlags, run: Run): Promise<number> {
  let dl: DeadLetters | undefined;
  try {
    const { settings, warnings } = await loadForReader(flags);
    for (const w of warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
    // Logs go to stderr: stdout carries the listing.
    const log = createLogger({ level: settings.logLevel, name: 'event-reactor-dlq', destination: pino.destination({ dest: 2, sync: true }) });
    const { DeadLetters } = await import('../queue/dead-letters.js');
    dl = new DeadLetters({ redisUrl: settings.redisUrl, queue: settings.queue, log, handlerKnown: await handlerKnown(settings.handlersFile) });
    return await run(dl, settings, log);
  } catch (err) {
    return reportError(err, 'dlq');
  } finally {
    await dl?.close();
  }
}

function oneTarget(verb: string, jobId: string | undefined, all: boolean | undefined): number | undefined {
  if ((jobId === undefined) === !all) {
    process.stderr.write(`dlq ${verb}: give either a job id or --all\n`);
    return EXIT.USAGE;
  }
  return undefined;
}

function notFound(jobId: string, settings: ReactorSettings): number {
  process.stderr.write(`dlq: no dead job with id "${jobId}" in any handler queue of ${settings.queue.name} (see "dlq list")\n`);
  return EXIT.FAILURE;
}

function report(verb: string, n: number): number {
  process.stdout.write(`${verb} ${n} job(s)\n`);
  return EXIT.OK;
}

/** A dead job for JSON output, with the field names of the `results` documents. */
function summary(j: DeadJob): Record<string, unknown> {
  return {
    job_id: j.id,
    queue: j.queue,
    key: j.key,
    driver: j.driver,
    handler: j.handler,
    event_id: j.eventId,
    attempts: j.attempts,
    failed_reason: j.failedReason,
    finished_on: j.finishedOn?.toISOString() ?? null,
  };
}

function line(j: DeadJob): string {
  const reason = j.failedReason.replace(/\s+/g, ' ').trim();
  return [j.id, j.key, `${j.driver}:${j.handler}`, `attempts=${j.attempts}`, j.finishedOn?.toISOString() ?? '-', reason].join('\t');
}

/**
 * Whether event-handlers.json has an entry, read once per command. A file that does not
 * load leaves every entry known: the workers' own check still refuses what is gone.
 */
async function handlerKnown(file: string): Promise<(key: string, id: string) => boolean> {
  const { loadHandlersFile } = await import('../config/handlers-file.js');
  try {
    const { rules } = loadHandlersFile(file);
    return (key, id) => rules.byRef(key, id) !== undefined;
  } catch (err) {
    process.stderr.write(`warning: ${file} does not load (${(err as Error).message}); dead jobs are retried without checking their handlers\n`);
    return () => true;
  }
}
