import type { HandlerSpec } from '../handlers/spec.js';

/**
 * Finds the handlers for an event. Keys are matched exactly on `namespace:event_type`,
 * as in EventReactor.
 */
export class Matcher {
  readonly #table: ReadonlyMap<string, readonly HandlerSpec[]>;

  constructor(table: ReadonlyMap<string, readonly HandlerSpec[]>) {
    this.#table = table;
  }

  match(key: string): readonly HandlerSpec[] {
    return this.#table.get(key) ?? [];
  }

  /** Number of keys with at least one handler. */
  get size(): number {
    let n = 0;
    for (const specs of this.#table.values()) if (specs.length > 0) n++;
    return n;
  }
}
