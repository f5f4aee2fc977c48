import type { Command } from 'commander';
import { formatProblem } from '../errors.js';
import { parseListenAddress } from '../http/listen-address.js';
import { createLogger } from '../logger.js';
import { addDaemonOptions, loadForReader, parsePositiveInt, reportError, type DaemonFlags } from './common.js';
import { handleSignals } from './signals.js';

const HELP_AFTER = `
The console listens on http.web (default 127.0.0.1:9480). On any address other hosts can
reach it needs a token ("web.token_file", a file only its owner can read, or env
EVENT_REACTOR_WEB_TOKEN), or it refuses to start (exit 78).

Exit codes: 0 stopped by a signal · 64 usage · 69 MongoDB or the address unavailable
  78 configuration error (or a non-loopback address without a token) · 130/143 second signal`;

/** How long a graceful stop may take before the exit is forced, in ms. */
const SHUTDOWN_DEADLINE_MS = 10_000;

/** `event-reactor web [--http host:port]`: serve the web console until SIGTERM/SIGINT. */
export function configureWebCommand(cmd: Command, result: { code: number }): Command {
  addDaemonOptions(
    cmd.description(
      'Serve the web console: the live stream, history search, event pages with their runs, dead letters (retry, purge), health and a throughput chart',
    ),
  ).addHelpText('after', HELP_AFTER);
  return cmd
    .option('--http <host:port>', 'where to listen (overrides http.web; port 0 picks one)')
    .option('--sample-interval <ms>', "how often the chart reads the daemons' /metrics, in ms (default 5000)", parsePositiveInt)
    .action(async (flags: DaemonFlags & { http?: string; sampleInterval?: number }) => {
      try {
        const { settings, warnings } = await loadForReader(flags);
        const log = createLogger({ level: settings.logLevel, name: 'event-reactor-web' });
        for (const w of warnings) log.warn({ file: w.file, key: w.path }, formatProblem(w));
        const address = flags.http === undefined ? undefined : parseListenAddress(flags.http, { file: '--http', path: '' });
        const { startWebConsole } = await import('../web/start-web-console.js');
        const running = await startWebConsole(settings, log, {
          ...(address ? { address } : {}),
          ...(flags.sampleInterval === undefined ? {} : { sampleIntervalMs: flags.sampleInterval }),
        });
        process.stderr.write(`event-reactor web: serving ${running.url} (Ctrl-C to stop)\n`);
        result.code = await new Promise<number>((resolve) => {
          handleSignals({ log, shutdown: () => running.close(), exit: resolve, deadlineMs: SHUTDOWN_DEADLINE_MS });
        });
      } catch (err) {
        result.code = reportError(err, 'event-reactor web');
      }
    });
}
