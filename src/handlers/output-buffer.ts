/** Keeps the first `limit` bytes of a stream and counts the rest. */
export class HeadBuffer {
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  #total = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: Buffer): void {
    this.#total += chunk.length;
    if (this.#kept >= this.#limit) return;
    const take = chunk.subarray(0, this.#limit - this.#kept);
    this.#chunks.push(take);
    this.#kept += take.length;
  }

  get truncated(): boolean {
    return this.#total > this.#kept;
  }

  toString(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}

/** Keeps the last `limit` bytes of a stream. */
export class TailBuffer {
  readonly #limit: number;
  #buf: Buffer = Buffer.alloc(0);

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: Buffer): void {
    const joined = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#buf = joined.length > this.#limit ? joined.subarray(joined.length - this.#limit) : joined;
  }

  toString(): string {
    return this.#buf.toString('utf8');
  }
}
