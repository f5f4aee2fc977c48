import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** EventReactor's Python level names and pino's own, mapped to pino levels. */
const LEVELS: Record<string, LevelWithSilent> = {
  critical: 'fatal',
  fatal: 'fatal',
  error: 'error',
  warning: 'warn',
  warn: 'warn',
  info: 'info',
  debug: 'debug',
  trace: 'trace',
  silent: 'silent',
};

/** Map a level name from config (`INFO`, `WARNING`, `debug`...) to a pino level; undefined if unknown. */
export function toPinoLevel(name: string): LevelWithSilent | undefined {
  const key = name.toLowerCase();
  // Own keys only: "constructor" or "__proto__" must not find Object.prototype members.
  return Object.hasOwn(LEVELS, key) ? LEVELS[key] : undefined;
}

export interface LoggerOptions {
  /** pino level; default `info`. */
  level?: LevelWithSilent;
  /** Component name stored in every line as `name`. */
  name?: string;
  /** Where to write; default stdout. */
  destination?: DestinationStream;
}

/** Root logger: JSON lines to stdout, ISO timestamps. Writes are synchronous so nothing is lost at exit. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      name: options.name ?? 'event-reactor',
      timestamp: pino.stdTimeFunctions.isoTime,
      base: { pid: process.pid },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger that drops everything: for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
