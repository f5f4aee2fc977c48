import type { Command } from 'commander';
import { ConfigError, formatProblem, type ConfigProblem } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { loadHandlersFile } from '../config/handlers-file.js';
import { ShellDriver } from '../handlers/shell-driver.js';
import { TsfuncDriver } from '../handlers/tsfunc-driver.js';
import { splitArgv } from '../handlers/argv.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './common.js';

export interface CheckReport {
  problems: ConfigProblem[];
  warnings: ConfigProblem[];
  keys: number;
  handlers: number;
}

/**
 * Validate config.json and event-handlers.json with the same code the daemons use,
 * collecting every problem, and check that each handler can be found.
 */
export function checkConfig(path: string | undefined, handlersFile: string | undefined): CheckReport {
  const report: CheckReport = { problems: [], warnings: [], keys: 0, handlers: 0 };
  let loaded;
  try {
    loaded = loadConfig({ path, overrides: handlersFile ? { handlersFile } : {} });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report.problems.push(...err.problems);
    return report;
  }
  const { settings } = loaded;
  report.warnings.push(...loaded.warnings);
  let table;
  try {
    const h = loadHandlersFile(settings.handlersFile);
    table = h.table;
    report.warnings.push(...h.warnings);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report.problems.push(...err.problems);
    return report;
  }
  const opts = { handlersDir: settings.handlersDir, outputLimitBytes: settings.worker.outputLimitBytes };
  const shell = new ShellDriver(opts);
  const tsfunc = new TsfuncDriver(opts);
  for (const [key, specs] of table) {
    if (specs.length > 0) report.keys++;
    specs.forEach((spec, i) => {
      report.handlers++;
      const at = `${key}[${i}].handler`;
      try {
        if (spec.driver === 'tsfunc') tsfunc.locate(spec.handler);
        else shell.resolveCommand(splitArgv(spec.handler)[0]!);
      } catch (err) {
        report.problems.push({ file: settings.handlersFile, path: at, message: (err as Error).message });
      }
    });
  }
  return report;
}

export function configureCheckConfigCommand(cmd: Command, result: { code: number }): Command {
  return cmd
    .description('Validate config.json and event-handlers.json and list every problem (exit 78 if any)')
    .option('-c, --config <file>', 'config.json (default: $EVENT_REACTOR_CONFIG or /etc/event-reactor/config.json)')
    .option('--handlers <file>', 'event-handlers.json (default: from config.json)')
    .action((flags: { config?: string; handlers?: string }) => {
      try {
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
