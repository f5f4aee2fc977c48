import type { Command } from 'commander';
import { addDaemonOptions, type DaemonFlags } from './common.js';
import { withArchive } from './events-command.js';
import { EXIT } from './exit-codes.js';

/** `event-reactor archive prune`. */
export function configureArchiveCommand(cmd: Command, result: { code: number }): Command {
  cmd.description('Maintain the archive');
  addDaemonOptions(
    cmd
      .command('prune')
      .exitOverride()
      .description(
        'Delete events older than archive.retention_days and results older than archive.results_retention_days (dead letters, gaps and cursors are kept); for servers without TTL indexes, run by init/systemd/event-reactor-prune.timer or init/cron/event-reactor-prune',
      ),
  ).action(async (flags: DaemonFlags) => {
    result.code = await withArchive(flags, async (archive, settings) => {
      const { eventsDays, resultsDays } = settings.retention;
      if (eventsDays === undefined && resultsDays === undefined) {
        process.stdout.write('archive prune: no retention configured (archive.retention_days, archive.results_retention_days): nothing to delete\n');
        return EXIT.OK;
      }
      const r = await archive.prune(settings.retention);
      const part = (n: number, what: string, before: Date | undefined): string =>
        before ? `${n} ${what} before ${before.toISOString()}` : `${what} kept (no retention)`;
      process.stdout.write(`archive prune: deleted ${part(r.events, 'events', r.eventsBefore)}; ${part(r.results, 'results', r.resultsBefore)}\n`);
      return EXIT.OK;
    });
  });
  return cmd;
}
