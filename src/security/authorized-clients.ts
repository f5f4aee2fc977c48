import { watch, readdirSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { PUBLIC_SUFFIX, readCertificate } from './certs.js';

/** Options for {@link AuthorizedClients}. */
export interface AuthorizedClientsOptions {
  /** `KEYS_DIR/clients`: one public certificate `NAME.key` per authorized client. */
  dir: string;
  log: Logger;
  /** Wait after a change before reading the directory again, in ms; default 100. */
  debounceMs?: number;
}

/**
 * The clients allowed to connect: the public certificates in a directory, by public key.
 * A client's name is its file's base name. The directory is read again when it changes
 * (a file added, replaced or removed), so `keys client NAME` takes effect without a
 * restart; a file that cannot be read is logged and left out, never fatal after start.
 */
export class AuthorizedClients {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #debounceMs: number;
  #byKey = new Map<string, string>();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: AuthorizedClientsOptions) {
    this.#dir = options.dir;
    this.#log = options.log;
    this.#debounceMs = options.debounceMs ?? 100;
  }

  /**
   * Read the directory and watch it.
   *
   * @throws {ConfigError} when the directory cannot be read
   */
  start(): void {
    this.#byKey = this.#read();
    this.#watcher = watch(this.#dir, () => {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.reload(), this.#debounceMs);
      this.#timer.unref();
    });
    this.#watcher.on('error', (err) => this.#log.error({ err, dir: this.#dir }, 'cannot watch the authorized clients directory'));
    this.#watcher.unref();
  }

  /** Read the directory again now; keeps the previous list if it cannot be read. */
  reload(): void {
    try {
      const next = this.#read();
      const before = new Set(this.#byKey.values());
      const after = new Set(next.values());
      this.#byKey = next;
      const added = [...after].filter((n) => !before.has(n));
      const removed = [...before].filter((n) => !after.has(n));
      if (added.length > 0 || removed.length > 0) this.#log.info({ added, removed, clients: after.size }, 'authorized clients changed');
    } catch (err) {
      this.#log.error({ err: coerceError(err), dir: this.#dir }, 'cannot read the authorized clients; keeping the previous list');
    }
  }

  /** The name of the client with this public key (Z85), or undefined when it is not authorized. */
  nameOf(publicKey: string): string | undefined {
    return this.#byKey.get(publicKey);
  }

  /** How many clients are authorized. */
  get size(): number {
    return this.#byKey.size;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }

  #read(): Map<string, string> {
    let names: string[];
    try {
      names = readdirSync(this.#dir).filter((f) => f.endsWith(PUBLIC_SUFFIX));
    } catch (err) {
      throw new ConfigError([{ file: this.#dir, path: '', message: `cannot read the authorized clients directory: ${(err as Error).message}` }], {
        cause: err,
      });
    }
    const byKey = new Map<string, string>();
    for (const file of names) {
      try {
        const { publicKey } = readCertificate(join(this.#dir, file));
        byKey.set(publicKey, file.slice(0, -PUBLIC_SUFFIX.length));
      } catch (err) {
        this.#log.error({ err: coerceError(err), file: join(this.#dir, file) }, 'client certificate left out');
      }
    }
    return byKey;
  }
}
