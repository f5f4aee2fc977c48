import { InvalidArgumentError, Option, type Command } from 'commander';
import { ConfigError, ReactorError, formatProblem, type ConfigProblem } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { loadConfig, type ConfigOverrides } from '../config/load.js';
import type { ReactorSettings } from '../config/settings.js';
import { exitCodeFor } from './exit-codes.js';

/** Options every daemon command accepts. */
export interface DaemonFlags {
  config?: string;
  logLevel?: string;
  redisUrl?: string;
  mongoUrl?: string;
  concurrency?: number;
}

export function addDaemonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config.json (default: $EVENT_REACTOR_CONFIG or /etc/event-reactor/config.json)')
    .option('-l, --log-level <level>', 'DEBUG, INFO, WARNING, ERROR or CRITICAL (overrides logging.loglevel)')
    .addOption(new Option('--redis-url <url>', 'Redis URL (overrides redis.url and $REDIS_URL)'))
    .addOption(new Option('--mongo-url <url>', 'MongoDB URL (overrides mongodb.url and $MONGO_URL)'));
}

export function overridesFrom(flags: DaemonFlags): ConfigOverrides {
  const o: ConfigOverrides = {};
  if (flags.logLevel !== undefined) o.logLevel = flags.logLevel;
  if (flags.redisUrl !== undefined) o.redisUrl = flags.redisUrl;
  if (flags.mongoUrl !== undefined) o.mongoUrl = flags.mongoUrl;
  if (flags.concurrency !== undefined) o.concurrency = flags.concurrency;
  return o;
}

/** Load settings and a logger; config warnings are logged once each. */
export function loadForDaemon(flags: DaemonFlags, name: string, extra: ConfigOverrides = {}): { settings: ReactorSettings; log: Logger } {
  const { settings, warnings } = loadConfig({ path: flags.config, overrides: { ...overridesFrom(flags), ...extra } });
  const log = createLogger({ level: settings.logLevel, name });
  for (const w of warnings) log.warn({ file: w.file, key: w.path }, w.message);
  return { settings, log };
}

/**
 * Settings for a command that reads the stack (status, dlq, events...): as the daemons
 * load them, except that while `up --local-services` runs for this config file, the Redis
 * and MongoDB it started are used unless a flag or the environment names others.
 */
export async function loadForReader(flags: DaemonFlags): Promise<{ settings: ReactorSettings; warnings: ConfigProblem[]; localServices: boolean }> {
  const { settings, warnings } = loadConfig({ path: flags.config, overrides: overridesFrom(flags) });
  const { readLocalState } = await import('../devstack/local-state.js');
  const state = readLocalState(settings.configFile);
  if (!state) return { settings, warnings, localServices: false };
  if (flags.redisUrl === undefined && !process.env['REDIS_URL']) settings.redisUrl = state.redisUrl;
  if (flags.mongoUrl === undefined && !process.env['MONGO_URL']) settings.mongo = { ...settings.mongo, url: state.mongoUrl };
  return { settings, warnings, localServices: true };
}

/** Print an error for a person on stderr and return the exit code for it. */
export function reportError(err: unknown, prefix: string): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`${prefix}: configuration error\n${err.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}\n`);
  } else if (err instanceof ReactorError) {
    process.stderr.write(`${prefix}: ${err.message}\n`);
  } else {
    process.stderr.write(`${prefix}: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  return exitCodeFor(err);
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive whole number, got "${value}"`);
  return n;
}
