import type { Command } from 'commander';
import { formatProblem } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './common.js';

export function configureCheckConfigCommand(cmd: Command, result: { code: number }): Command {
  return cmd
    .description('Validate config.json and event-handlers.json and list every problem (exit 78 if any)')
    .option('-c, --config <file>', 'config.json (default: $EVENT_REACTOR_CONFIG or /etc/event-reactor/config.json)')
    .option('--handlers <file>', 'event-handlers.json (default: from config.json)')
    .action(async (flags: { config?: string; handlers?: string }) => {
      try {
        const { checkConfig } = await import('../config/check-config.js');
        const report = checkConfig(flags.config, flags.handlers);
        for (const w of report.warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
        for (const p of report.problems) process.stderr.write(`error: ${formatProblem(p)}\n`);
        if (report.problems.length > 0) {
          process.stderr.write(`check-config: ${report.problems.length} problem(s)\n`);
          result.code = EXIT.CONFIG;
          return;
        }
        process.stdout.write(`configuration OK: ${report.keys} event keys, ${report.handlers} handlers, ${report.warnings.length} warning(s)\n`);
        result.code = EXIT.OK;
      } catch (err) {
        result.code = reportError(err, 'check-config');
      }
    });
}
