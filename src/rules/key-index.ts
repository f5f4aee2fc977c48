/**
 * The handler table by key: which entries an event key selects, when the table's keys are
 * exact keys and fnmatch globs (see glob.ts).
 *
 * Every key whose pattern matches contributes its entries, in the table's order (keys in
 * the order given, entries in their order under the key); an entry object listed under
 * several matching keys appears once, at its first place.
 *
 * Lookups are built for a stream where few distinct keys repeat a lot: exact keys are one
 * `Map` lookup; globs whose literal prefix fixes the namespace (`local:disk.*`) are only
 * tried for events of that namespace, the rest (`*:disk.full`) are checked against their
 * literal prefix and suffix before the full match; and the result for each distinct event
 * key is cached (bounded, least recently used dropped first, keyed by namespace and
 * event type so a hit builds no string), so a repeated key costs two `Map` lookups.
 */
import { ConfigError, type ConfigProblem } from '../errors.js';
import { compileKeyPattern, type KeyPattern } from './glob.js';
import { PairLruCache } from './pair-lru-cache.js';

/** Options of {@link KeyIndex}. */
export interface KeyIndexOptions {
  /** Distinct event keys whose results are cached. Default 10,000. */
  cacheSize?: number;
}

/** Distinct event keys whose results are cached, unless {@link KeyIndexOptions.cacheSize} says otherwise. */
export const DEFAULT_KEY_CACHE_SIZE = 10_000;

/** One key of the table that matched, with its entries. */
export interface KeyMatch<T> {
  readonly pattern: KeyPattern;
  readonly entries: readonly T[];
}

const NONE: readonly never[] = Object.freeze([]);

export class KeyIndex<T> {
  readonly #patterns: KeyPattern[] = [];
  readonly #entries: (readonly T[])[] = [];
  /** Exact key -> positions in the table. */
  readonly #exact = new Map<string, number[]>();
  /** Namespace -> positions of globs that fix it. */
  readonly #byNamespace = new Map<string, number[]>();
  /** Positions of globs that could match any namespace. */
  readonly #open: number[] = [];
  readonly #cache: PairLruCache<readonly T[]>;

  /**
   * @param table - keys (as written, or compiled with {@link compileKeyPattern}) and their
   *   entries, in the table's order
   * @throws {ConfigError} listing every key that is not a valid key pattern
   */
  constructor(table: Iterable<readonly [string | KeyPattern, readonly T[]]>, options: KeyIndexOptions = {}) {
    this.#cache = new PairLruCache(options.cacheSize ?? DEFAULT_KEY_CACHE_SIZE);
    const problems: ConfigProblem[] = [];
    for (const [key, entries] of table) {
      let pattern: KeyPattern;
      try {
        pattern = typeof key === 'string' ? compileKeyPattern(key) : key;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        problems.push(...err.problems);
        continue;
      }
      const at = this.#patterns.length;
      this.#patterns.push(pattern);
      this.#entries.push(entries);
      const bucket = pattern.exact ? this.#exact : pattern.namespace !== undefined ? this.#byNamespace : undefined;
      const name = pattern.exact ? pattern.source : pattern.namespace;
      if (bucket === undefined || name === undefined) this.#open.push(at);
      else {
        const list = bucket.get(name);
        if (list) list.push(at);
        else bucket.set(name, [at]);
      }
    }
    if (problems.length > 0) throw new ConfigError(problems);
  }

  /**
   * The entries of every key matching `key` (`namespace:event_type`), each entry once,
   * in table order. The array is frozen and shared between calls: do not change it.
   */
  match(key: string): readonly T[] {
    const colon = key.indexOf(':');
    if (colon < 0) return this.#collect(this.#positions(key));
    return this.matchEvent(key.slice(0, colon), key.slice(colon + 1));
  }

  /**
   * {@link match} for an event's `namespace` and `event_type`, without building the key:
   * the hot path (a cache hit is two `Map` lookups on the event's own strings).
   */
  matchEvent(namespace: string, eventType: string): readonly T[] {
    const cached = this.#cache.get(namespace, eventType);
    if (cached !== undefined) return cached;
    const found = this.#collect(this.#positions(`${namespace}:${eventType}`));
    this.#cache.set(namespace, eventType, found);
    return found;
  }

  /** Every key of the table that matches `key`, with its entries, in table order. Not cached: for explanations. */
  matchingKeys(key: string): KeyMatch<T>[] {
    return this.#positions(key).map((i) => ({ pattern: this.#patterns[i]!, entries: this.#entries[i]! }));
  }

  /** Keys in the table. */
  get size(): number {
    return this.#patterns.length;
  }

  /** Forget cached results (the table itself does not change). */
  clearCache(): void {
    this.#cache.clear();
  }

  /** Positions of the matching keys, ascending. */
  #positions(key: string): number[] {
    const out: number[] = [];
    const exact = this.#exact.get(key);
    if (exact) out.push(...exact);
    const colon = key.indexOf(':');
    if (colon >= 0) {
      const scoped = this.#byNamespace.get(key.slice(0, colon));
      if (scoped) for (const i of scoped) if (this.#tryGlob(i, key)) out.push(i);
    }
    for (const i of this.#open) if (this.#tryGlob(i, key)) out.push(i);
    // Exact keys and the two glob groups each come in order; merge them into table order.
    return out.sort((a, b) => a - b);
  }

  #tryGlob(i: number, key: string): boolean {
    const p = this.#patterns[i]!;
    return key.startsWith(p.literalPrefix) && key.endsWith(p.literalSuffix) && p.test(key);
  }

  #collect(positions: readonly number[]): readonly T[] {
    if (positions.length === 0) return NONE;
    const seen = new Set<T>();
    const out: T[] = [];
    for (const i of positions) {
      for (const entry of this.#entries[i]!) {
        if (seen.has(entry)) continue;
        seen.add(entry);
        out.push(entry);
      }
    }
    return Object.freeze(out);
  }
}
