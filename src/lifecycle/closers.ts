import { coerceError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * A stack of things to close, closed in reverse order of opening: intake first, stores
 * last. `close()` is idempotent and never throws; failures are logged.
 */
export class CloserStack {
  readonly #log: Logger;
  readonly #items: { name: string; close: () => Promise<void> | void }[] = [];
  #closing: Promise<void> | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  push(name: string, close: () => Promise<void> | void): void {
    this.#items.push({ name, close });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const item of this.#items.reverse()) {
        try {
          await item.close();
        } catch (err) {
          this.#log.error({ err: coerceError(err), part: item.name }, 'close failed');
        }
      }
    })();
    return this.#closing;
  }
}
