/**
 * A bounded cache that forgets the least recently used entries first, in two generations
 * (the scheme of the `quick-lru` package): entries live in a young map; when it is full it
 * becomes the old map and the previous old map is dropped; a hit in the old map moves the
 * entry to the young one. A hit in the young map is a single `Map.get`, with no
 * reordering, which is what a hot path of repeating keys wants.
 *
 * At most `maxEntries` entries are held; an entry used among the last `maxEntries / 2`
 * distinct keys is always kept.
 */
export class LruCache<K, V> {
  readonly #generation: number;
  #young = new Map<K, V>();
  #old = new Map<K, V>();

  /** @param maxEntries - entries kept at most, at least 2 */
  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 2) throw new RangeError(`LruCache maxEntries must be a whole number >= 2, got ${maxEntries}`);
    this.#generation = Math.floor(maxEntries / 2);
  }

  /** The value for `key`, or undefined when it is not held. */
  get(key: K): V | undefined {
    const value = this.#young.get(key);
    if (value !== undefined) return value;
    const old = this.#old.get(key);
    if (old !== undefined) {
      this.#old.delete(key);
      this.#store(key, old);
    }
    return old;
  }

  /** Hold `value` under `key` as the most recently used entry. */
  set(key: K, value: V): void {
    if (this.#young.has(key)) this.#young.set(key, value);
    else {
      this.#old.delete(key);
      this.#store(key, value);
    }
  }

  clear(): void {
    this.#young.clear();
    this.#old.clear();
  }

  /** Entries held now. */
  get size(): number {
    return this.#young.size + this.#old.size;
  }

  #store(key: K, value: V): void {
    if (this.#young.size >= this.#generation) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, value);
  }
}
