/**
 * A bounded cache keyed by a pair of strings (namespace, event type), dropping the least
 * recently used entries first, in two generations (the scheme of the `quick-lru`
 * package): entries live in a young generation; when it holds half the capacity it
 * becomes the old one and the previous old one is dropped; a hit in the old generation
 * moves the entry to the young one.
 *
 * Why pairs: the event's `namespace` and `event_type` strings are looked up as they are,
 * so a hit builds no `namespace:event_type` string (and hashes nothing new), and a hit in
 * the young generation is two `Map.get`s with no reordering.
 *
 * At most `maxEntries` entries are held; an entry used among the last `maxEntries / 2`
 * distinct pairs is always kept.
 */
export class PairLruCache<V> {
  readonly #generation: number;
  #young = new Map<string, Map<string, V>>();
  #youngSize = 0;
  #old = new Map<string, Map<string, V>>();
  #oldSize = 0;

  /** @param maxEntries - entries kept at most, at least 2 */
  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 2) throw new RangeError(`PairLruCache maxEntries must be a whole number >= 2, got ${maxEntries}`);
    this.#generation = Math.floor(maxEntries / 2);
  }

  /** The value for (`a`, `b`), or undefined when it is not held. */
  get(a: string, b: string): V | undefined {
    const young = this.#young.get(a)?.get(b);
    if (young !== undefined) return young;
    const inner = this.#old.get(a);
    const old = inner?.get(b);
    if (old !== undefined) {
      inner!.delete(b);
      this.#oldSize--;
      this.#store(a, b, old);
    }
    return old;
  }

  /** Hold `value` under (`a`, `b`) as the most recently used entry. */
  set(a: string, b: string, value: V): void {
    const inner = this.#young.get(a);
    if (inner?.has(b)) {
      inner.set(b, value);
      return;
    }
    const oldInner = this.#old.get(a);
    if (oldInner?.delete(b)) this.#oldSize--;
    this.#store(a, b, value);
  }

  clear(): void {
    this.#young = new Map();
    this.#old = new Map();
    this.#youngSize = 0;
    this.#oldSize = 0;
  }

  /** Entries held now. */
  get size(): number {
    return this.#youngSize + this.#oldSize;
  }

  #store(a: string, b: string, value: V): void {
    if (this.#youngSize >= this.#generation) {
      this.#old = this.#young;
      this.#oldSize = this.#youngSize;
      this.#young = new Map();
      this.#youngSize = 0;
    }
    let inner = this.#young.get(a);
    if (inner === undefined) this.#young.set(a, (inner = new Map()));
    inner.set(b, value);
    this.#youngSize++;
  }
}
