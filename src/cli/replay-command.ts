import type { Command } from 'commander';
import { ulid } from 'ulid';
import { RouterRefusedError, UsageError } from '../errors.js';
import { addDaemonOptions, parsePositiveInt, type DaemonFlags } from './common.js';
import { withArchive } from './events-command.js';
import { EXIT } from './exit-codes.js';
import { parseTimeArg } from './time-arg.js';

interface ReplayFlags extends DaemonFlags {
  since?: string;
  until?: string;
  key?: string;
  id?: string[];
  rate: number;
  dryRun?: boolean;
  name?: string;
}

/** `event-reactor replay`: fire archived events again through the router. */
export function configureReplayCommand(cmd: Command, result: { code: number }): Command {
  return addDaemonOptions(cmd)
    .description(
      'Fire archived events again through the router, oldest first: each copy is a new event (new id, same trace) with replay_of and replay set, so handlers run again',
    )
    .option('--since <time>', 'events from this time: ISO, or a duration back (30m, 1h, 2d)')
    .option('--until <time>', 'events before this time')
    .option('--key <glob>', 'events whose namespace:event_type matches')
    .option('--id <id...>', 'these events')
    .option('--rate <n>', 'at most this many events per second', parsePositiveInt, 50)
    .option('--dry-run', 'list the events and the handlers each would run, fire nothing')
    .option('--name <name>', 'the replay\'s name, set as "replay" on every copy (default replay-<time>)')
    .action(async (flags: ReplayFlags) => {
      result.code = await withArchive(flags, async (archive, settings) => {
        if (flags.since === undefined && flags.id === undefined && flags.key === undefined) {
          throw new UsageError('say what to replay: --since, --key or --id (to replay everything, give --since with an early date)');
        }
        const query = {
          ...(flags.since === undefined ? {} : { since: parseTimeArg(flags.since, '--since') }),
          ...(flags.until === undefined ? {} : { until: parseTimeArg(flags.until, '--until') }),
          ...(flags.key === undefined ? {} : { key: flags.key }),
          ...(flags.id === undefined ? {} : { ids: flags.id }),
        };
        const { restoreEvent, replayCopy } = await import('../archive/restore-event.js');
        const name = flags.name ?? `replay-${new Date().toISOString()}`;
        const { loadHandlersFile } = await import('../config/handlers-file.js');
        const { rules } = loadHandlersFile(settings.handlersFile);
        if (flags.dryRun) {
          let n = 0;
          for await (const doc of archive.eventsToReplay(query)) {
            // The entries its key selects whose `when` matches; if, throttle and debounce
            // depend on the rules state when the copy arrives, and are said so.
            const event = restoreEvent(doc);
            const entries = rules.match(String(event['namespace']), String(event['event_type'])).filter((e) => !e.when || e.when.matches(event));
            const shown = entries.map(
              (e) => `${e.spec.driver}:${e.spec.command}${e.if || e.throttle || e.debounce ? ' (if its if/throttle/debounce allow)' : ''}`,
            );
            process.stdout.write(`${doc._id}  ${doc.key}  ${new Date(doc.time).toISOString()}  would run: ${shown.join(', ') || 'no handler'}\n`);
            n++;
          }
          process.stderr.write(`dry run: ${n} event(s) would be replayed as "${name}"\n`);
          return EXIT.OK;
        }
        const { RouterClient } = await import('../wire/router-client.js');
        const curve = (await import('../security/key-files.js')).clientKeysFor(settings.security);
        const uri = settings.worker.routerUri;
        if (!uri) throw new UsageError('config.json names no router REP endpoint (a ZMQInput feeder or worker.router_uri) to replay through');
        const client = new RouterClient({ uri, timeoutMs: 5000, retries: 3, curve });
        const gapMs = 1000 / flags.rate;
        let next = performance.now();
        let fired = 0;
        let refused = 0;
        try {
          for await (const doc of archive.eventsToReplay(query)) {
            const wait = next - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            next = Math.max(next, performance.now()) + gapMs;
            const copy = replayCopy(restoreEvent(doc), ulid(), name);
            try {
              const published = await client.send(copy);
              process.stdout.write(`${doc._id} -> ${published.id}  ${doc.key}\n`);
              fired++;
            } catch (err) {
              if (!(err instanceof RouterRefusedError)) throw err;
              process.stderr.write(`replay: the router refused the copy of ${doc._id} (${err.reason}): ${err.message}\n`);
              refused++;
            }
          }
        } finally {
          client.close();
        }
        process.stderr.write(`replayed ${fired} event(s) as "${name}"${refused > 0 ? `; ${refused} refused` : ''}\n`);
        return refused > 0 ? EXIT.FAILURE : EXIT.OK;
      });
    });
}
