/** One published event kept for replay. */
export interface BufferedEvent {
  seq: number;
  json: string;
}

/**
 * The most recent published events of one epoch, bounded by count and by bytes of JSON.
 * Sequence numbers are contiguous, so an event is found by arithmetic, not search.
 */
export class ReplayBuffer {
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #ring: (BufferedEvent | undefined)[];
  #start = 0;
  #size = 0;
  #bytes = 0;

  constructor(maxEvents: number, maxBytes: number) {
    this.#maxEvents = maxEvents;
    this.#maxBytes = maxBytes;
    this.#ring = new Array<BufferedEvent | undefined>(maxEvents);
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Oldest sequence number held, or undefined when empty. */
  get firstSeq(): number | undefined {
    return this.#size === 0 ? undefined : this.#ring[this.#start]!.seq;
  }

  get lastSeq(): number | undefined {
    return this.#size === 0 ? undefined : this.#ring[(this.#start + this.#size - 1) % this.#maxEvents]!.seq;
  }

  /** Add the next event; evicts the oldest to stay within bounds. */
  append(seq: number, json: string): void {
    const bytes = json.length;
    if (this.#size === this.#maxEvents) this.#evict();
    this.#ring[(this.#start + this.#size) % this.#maxEvents] = { seq, json };
    this.#size++;
    this.#bytes += bytes;
    while (this.#bytes > this.#maxBytes && this.#size > 1) this.#evict();
  }

  /** Events with seq > `after`, at most `limit` of them and about `maxBytes` of JSON. */
  since(after: number, limit: number, maxBytes: number): BufferedEvent[] {
    const first = this.firstSeq;
    if (first === undefined) return [];
    const from = Math.max(after + 1, first);
    const out: BufferedEvent[] = [];
    let bytes = 0;
    for (let i = from - first; i < this.#size && out.length < limit; i++) {
      const e = this.#ring[(this.#start + i) % this.#maxEvents]!;
      if (out.length > 0 && bytes + e.json.length > maxBytes) break;
      out.push(e);
      bytes += e.json.length;
    }
    return out;
  }

  #evict(): void {
    const e = this.#ring[this.#start]!;
    this.#ring[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.#maxEvents;
    this.#size--;
    this.#bytes -= e.json.length;
  }
}
