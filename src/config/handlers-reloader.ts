import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Gauge, type Registry } from 'prom-client';
import { ConfigError, coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { counter } from '../metrics.js';
import type { RuleTable } from '../rules/rule-table.js';
import { loadHandlersFile, type LoadedHandlers } from './handlers-file.js';

/** Changes closer together than this are one reload (editors write a file in several steps). */
const SETTLE_MS = 250;

export interface HandlersReloaderOptions {
  /** event-handlers.json. */
  file: string;
  /** The handler directory: a change there reloads too. */
  dir: string;
  log: Logger;
  registry: Registry;
}

/**
 * The handler table of a running daemon, reloaded on SIGHUP (the CLI calls
 * {@link reload}) and when event-handlers.json or the handler directory changes. A new
 * table is validated whole and swapped in one assignment; a broken file keeps the old
 * table, logs every problem with its key path and counts the failure. The table's hash is
 * a metric (`handlers_table_info{hash}`) and in `/healthz`, so `status` shows it.
 */
export class HandlersReloader {
  readonly #o: HandlersReloaderOptions;
  #current: LoadedHandlers;
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #reloads;
  readonly #info: Gauge<'hash'>;

  /** Load the table. @throws {ConfigError} when the file is broken (a daemon does not start on it) */
  constructor(options: HandlersReloaderOptions) {
    this.#o = options;
    this.#current = loadHandlersFile(options.file);
    this.#logWarnings(this.#current);
    this.#reloads = counter(options.registry, 'handlers_reloads_total', 'Reloads of event-handlers.json, by result (failed: the old table kept running)', [
      'result',
    ]);
    this.#info = new Gauge({
      name: 'handlers_table_info',
      help: 'The handler table in use: 1 for its hash',
      labelNames: ['hash'],
      registers: [options.registry],
    });
    this.#info.set({ hash: this.#current.rules.hash }, 1);
  }

  get rules(): RuleTable {
    return this.#current.rules;
  }

  get hash(): string {
    return this.#current.rules.hash;
  }

  /** Watch the file and the handler directory. */
  start(): void {
    const file = basename(this.#o.file);
    const onChange = (why: string) => (): void => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.reload(why), SETTLE_MS);
      this.#timer.unref();
    };
    const add = (path: string, filter: (name: string | null) => boolean, why: string): void => {
      try {
        const w = watch(path, { persistent: false }, (_event, name) => {
          if (filter(name)) onChange(why)();
        });
        w.on('error', (err) => this.#o.log.warn({ err, path }, 'cannot watch for handler changes; SIGHUP still reloads'));
        this.#watchers.push(w);
      } catch (err) {
        this.#o.log.warn({ err: coerceError(err), path }, 'cannot watch for handler changes; SIGHUP still reloads');
      }
    };
    // The directory, not the file: editors replace the file by renaming a new one over it.
    add(dirname(this.#o.file), (name) => name === null || name === file, `${file} changed`);
    add(this.#o.dir, () => true, 'handler directory changed');
  }

  /** Load the file again and swap the table if it is valid and different. Returns whether it was swapped. */
  reload(reason: string): boolean {
    let next: LoadedHandlers;
    try {
      next = loadHandlersFile(this.#o.file);
    } catch (err) {
      this.#reloads.inc({ result: 'failed' });
      const problems = err instanceof ConfigError ? err.problems : [{ file: this.#o.file, path: '', message: coerceError(err).message }];
      for (const p of problems) this.#o.log.error({ file: p.file, key: p.path, reason }, `handler table not reloaded: ${p.message}`);
      this.#o.log.error({ file: this.#o.file, problems: problems.length, hash: this.hash }, 'handler table not reloaded; the previous table keeps running');
      return false;
    }
    const previous = this.#current.rules.hash;
    if (next.rules.hash === previous) {
      this.#o.log.debug({ reason, hash: previous }, 'handler table unchanged');
      return false;
    }
    this.#current = next;
    this.#logWarnings(next);
    this.#reloads.inc({ result: 'ok' });
    this.#info.reset();
    this.#info.set({ hash: next.rules.hash }, 1);
    this.#o.log.info({ reason, hash: next.rules.hash, previous, keys: next.rules.keyCount, entries: next.rules.entries.length }, 'handler table reloaded');
    return true;
  }

  #logWarnings(loaded: LoadedHandlers): void {
    for (const w of loaded.warnings) this.#o.log.warn({ file: w.file, key: w.path }, w.message);
  }

  /** Stop watching. */
  close(): void {
    clearTimeout(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#watchers.length = 0;
  }
}
