/** One published event kept for replay. */
export interface BufferedEvent {
  seq: number;
  /**
   * The event JSON as published, UTF-8. A view into the buffer's storage, valid until the
   * next {@link ReplayBuffer.append} (which may reuse the storage): copy it before then.
   */
  body: Buffer;
}

/** Size of one storage slab; an event larger than this gets a slab of its own. */
const SLAB_BYTES = 1 << 20;
/** Most storage allocated up front (see the constructor's `reserveBytes`); beyond it, slabs come as needed. */
const MAX_RESERVE_BYTES = 256 << 20;

/**
 * The most recent published events of one epoch, bounded by count and by bytes of JSON
 * (UTF-8). Sequence numbers are contiguous, so an event is found by arithmetic, not search.
 *
 * Event bytes are copied into append-only 1 MiB slabs and indexed by typed arrays, so
 * holding 100,000 events costs the garbage collector a few dozen objects rather than
 * 100,000 buffers to trace and promote. A slab whose events have all been evicted is kept
 * for reuse rather than freed, so a full buffer recycles its memory instead of
 * allocating 1 MiB for every 1 MiB published; and the storage can be allocated up front.
 * Both are for V8's sake: slab memory is external to its heap, and external memory that
 * grows (a buffer filling up) or churns (slabs freed and allocated) made it run a full
 * (mark-compact) collection every few MB, several per second at 20,000 events/s.
 * Because slabs are reused, views handed out by {@link since} are valid only until the
 * next append.
 */
export class ReplayBuffer {
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  /** Per event, by ring position: slab number (absolute), offset in it, length. */
  readonly #slabOf: Float64Array;
  readonly #offset: Int32Array;
  readonly #length: Int32Array;
  #slabs: Buffer[] = [];
  /** Standard-size slabs holding no event, filled before any is allocated. */
  readonly #free: Buffer[] = [];
  /** Absolute number of `#slabs[0]`. */
  #slabBase = 0;
  /** Bytes used in the last slab. */
  #fill = 0;
  #start = 0;
  #size = 0;
  #bytes = 0;
  #firstSeq = 0;

  /**
   * @param reserveBytes storage to allocate now rather than as events arrive (default 0;
   *   at most 256 MiB). Untouched, it costs address space, not resident memory.
   * @throws {RangeError} when a bound is not a positive whole number
   */
  constructor(maxEvents: number, maxBytes: number, reserveBytes = 0) {
    if (!Number.isInteger(maxEvents) || maxEvents < 1) throw new RangeError(`ReplayBuffer: maxEvents must be a whole number >= 1, got ${maxEvents}`);
    if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new RangeError(`ReplayBuffer: maxBytes must be a whole number >= 1, got ${maxBytes}`);
    this.#maxEvents = maxEvents;
    this.#maxBytes = maxBytes;
    this.#slabOf = new Float64Array(maxEvents);
    this.#offset = new Int32Array(maxEvents);
    this.#length = new Int32Array(maxEvents);
    const reserve = Math.min(reserveBytes, MAX_RESERVE_BYTES);
    if (reserve > 0) {
      // One slab more: an event that does not fit at the end of a slab starts the next.
      // One allocation (one mapping) cut into slabs.
      const slabs = Math.ceil(reserve / SLAB_BYTES) + 1;
      const block = Buffer.allocUnsafeSlow(slabs * SLAB_BYTES);
      for (let n = 0; n < slabs; n++) this.#free.push(block.subarray(n * SLAB_BYTES, (n + 1) * SLAB_BYTES));
    }
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes of event JSON held (not counting unused slab space). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Oldest sequence number held, or undefined when empty. */
  get firstSeq(): number | undefined {
    return this.#size === 0 ? undefined : this.#firstSeq;
  }

  get lastSeq(): number | undefined {
    return this.#size === 0 ? undefined : this.#firstSeq + this.#size - 1;
  }

  /**
   * Add the next event (its bytes are copied); evicts the oldest to stay within bounds.
   * The newest event is always kept, even when it alone exceeds `maxBytes`. A `seq` that
   * does not follow the last one starts the buffer afresh.
   */
  append(seq: number, body: Uint8Array): void {
    if (this.#size > 0 && seq !== this.#firstSeq + this.#size) this.#clear();
    if (this.#size === this.#maxEvents) this.#evict();
    const len = body.length;
    let slab = this.#slabs.at(-1);
    if (!slab || this.#fill + len > slab.length) {
      slab = this.#newSlab(len);
      this.#slabs.push(slab);
      this.#fill = 0;
    }
    slab.set(body, this.#fill);
    const at = (this.#start + this.#size) % this.#maxEvents;
    this.#slabOf[at] = this.#slabBase + this.#slabs.length - 1;
    this.#offset[at] = this.#fill;
    this.#length[at] = len;
    this.#fill += len;
    if (this.#size === 0) this.#firstSeq = seq;
    this.#size++;
    this.#bytes += len;
    while (this.#bytes > this.#maxBytes && this.#size > 1) this.#evict();
  }

  /** Events with seq > `after`, at most `limit` of them and about `maxBytes` of JSON. */
  since(after: number, limit: number, maxBytes: number): BufferedEvent[] {
    if (this.#size === 0) return [];
    const first = this.#firstSeq;
    const from = Math.max(after + 1, first);
    const out: BufferedEvent[] = [];
    let bytes = 0;
    for (let i = from - first; i < this.#size && out.length < limit; i++) {
      const at = (this.#start + i) % this.#maxEvents;
      const len = this.#length[at]!;
      if (out.length > 0 && bytes + len > maxBytes) break;
      const slab = this.#slabs[this.#slabOf[at]! - this.#slabBase]!;
      const off = this.#offset[at]!;
      out.push({ seq: first + i, body: slab.subarray(off, off + len) });
      bytes += len;
    }
    return out;
  }

  #evict(): void {
    const at = this.#start;
    this.#bytes -= this.#length[at]!;
    this.#start = (this.#start + 1) % this.#maxEvents;
    this.#size--;
    this.#firstSeq++;
    // Drop leading slabs that no event lives in any more (the last slab is kept for reuse).
    const oldest = this.#size > 0 ? this.#slabOf[this.#start]! : this.#slabBase + this.#slabs.length - 1;
    while (this.#slabBase < oldest) {
      const dropped = this.#slabs.shift()!;
      if (dropped.length === SLAB_BYTES) this.#free.push(dropped);
      this.#slabBase++;
    }
  }

  #newSlab(len: number): Buffer {
    if (len <= SLAB_BYTES && this.#free.length > 0) return this.#free.pop()!;
    return Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, len));
  }

  #clear(): void {
    for (const slab of this.#slabs) if (slab.length === SLAB_BYTES) this.#free.push(slab);
    this.#slabs = [];
    this.#slabBase = 0;
    this.#fill = 0;
    this.#start = 0;
    this.#size = 0;
    this.#bytes = 0;
  }
}
