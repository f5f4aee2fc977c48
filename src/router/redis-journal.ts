import { Redis } from 'ioredis';
import { JournalError } from '../errors.js';
import { redact } from '../redact.js';

/** An event as the journal keeps it: its place in the router's stream and its JSON as published. */
export interface JournalEntry {
  epoch: number;
  seq: number;
  body: Buffer;
}

/** Options for {@link RedisJournal}. */
export interface RedisJournalOptions {
  redisUrl: string;
  /** The router's name: its journal is `er:journal:{<name>}`. */
  name: string;
  /** Keep about this many events (XADD MAXLEN ~). */
  maxEvents: number;
  /** ...and about this many bytes of event JSON (the count is lowered by the average size). */
  maxBytes: number;
}

/** What a read of the journal gives. */
export interface JournalRead {
  entries: JournalEntry[];
  /** More entries follow the last one returned. */
  more: boolean;
}

/** The journal's extent. */
export interface JournalExtent {
  length: number;
  /** Epoch → its last journaled seq. */
  ends: Map<number, number>;
  first?: { epoch: number; seq: number };
  last?: { epoch: number; seq: number };
}

/**
 * The router's journal in a Redis stream: every accepted event is added (in one pipeline
 * per batch) before it is published or acknowledged, under the stream id `<epoch>-<seq>`,
 * so its order is the router's across restarts (a new epoch is a later start time) and a
 * replay is one XRANGE from a position, crossing epochs. Trimmed by count (XADD MAXLEN
 * ~), the count lowered so the bytes stay about within `maxBytes`. Durable as far as
 * Redis is: run it with `appendonly yes` and `appendfsync always` (or `everysec`, losing at
 * most a second on a power cut).
 */
export class RedisJournal {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #epochsKey: string;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #url: string;
  /** Running average size of an event, for the byte bound. */
  #avgBytes = 1024;
  #closing: Promise<void> | undefined;

  constructor(options: RedisJournalOptions) {
    this.#redis = new Redis(options.redisUrl, {
      maxRetriesPerRequest: 1,
      connectionName: `event-reactor-journal:${options.name}`,
      lazyConnect: true,
      enableOfflineQueue: true,
    });
    this.#redis.on('error', () => undefined); // each command reports its own failure
    this.#key = `er:journal:{${options.name}}`;
    this.#epochsKey = `er:journal-epochs:{${options.name}}`;
    this.#maxEvents = options.maxEvents;
    this.#maxBytes = options.maxBytes;
    this.#url = options.redisUrl;
  }

  get key(): string {
    return this.#key;
  }

  /** Connect. @throws {JournalError} naming the URL (password hidden) when Redis does not answer */
  async start(): Promise<void> {
    try {
      await this.#redis.connect();
    } catch (err) {
      throw new JournalError(`cannot reach the journal's Redis at ${redact(this.#url)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The most events kept: the count bound, lowered to keep about `maxBytes`. */
  get #cap(): number {
    return Math.max(1, Math.min(this.#maxEvents, Math.floor(this.#maxBytes / this.#avgBytes)));
  }

  /**
   * Add a batch, in order, in one round trip; resolves once Redis has every entry.
   *
   * @throws {JournalError} when Redis refuses or is unreachable (the caller holds the batch and retries)
   */
  async append(batch: readonly JournalEntry[]): Promise<void> {
    if (batch.length === 0) return;
    let bytes = 0;
    const pipe = this.#redis.pipeline();
    const cap = this.#cap;
    for (const e of batch) {
      bytes += e.body.length;
      pipe.xadd(this.#key, 'MAXLEN', '~', cap, `${e.epoch}-${e.seq}`, 'b', e.body);
    }
    // Each epoch's last seq, kept after its events are trimmed: how much of an old epoch a
    // subscriber missed stays countable.
    const last = batch.at(-1)!;
    pipe.hset(this.#epochsKey, String(last.epoch), String(last.seq));
    this.#avgBytes = this.#avgBytes * 0.9 + (bytes / batch.length) * 0.1;
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipe.exec();
    } catch (err) {
      throw new JournalError(`journal write failed: ${(err as Error).message}`, { cause: err });
    }
    const failed = results?.find(([err]) => err !== null);
    // An id at or below the stream's last (a batch retried after a reply was lost) is
    // already there: XADD refuses it, which is what a retry wants.
    if (failed?.[0] && !/equal or smaller than the target stream top item/.test(failed[0].message)) {
      throw new JournalError(`journal write failed: ${failed[0].message}`, { cause: failed[0] });
    }
  }

  /**
   * Entries after `(epoch, seq)`, oldest first, at most `limit` and about `maxBytes`,
   * crossing into later epochs.
   */
  async since(epoch: number, seq: number, limit: number, maxBytes: number): Promise<JournalRead> {
    const rows = (await this.#redis.xrangeBuffer(this.#key, `(${epoch}-${seq}`, '+', 'COUNT', limit + 1)) as [Buffer, Buffer[]][];
    const entries: JournalEntry[] = [];
    let bytes = 0;
    for (const [id, fields] of rows.slice(0, limit)) {
      const body = fields[1]!;
      if (entries.length > 0 && bytes + body.length > maxBytes) return { entries, more: true };
      const [e, s] = id.toString('latin1').split('-');
      entries.push({ epoch: Number(e), seq: Number(s), body });
      bytes += body.length;
    }
    return { entries, more: rows.length > limit };
  }

  /** Length, first and last positions, and the last seq of every epoch journaled. */
  async extent(): Promise<JournalExtent> {
    const [first, last, length, epochs] = await Promise.all([
      this.#redis.xrange(this.#key, '-', '+', 'COUNT', 1),
      this.#redis.xrevrange(this.#key, '+', '-', 'COUNT', 1),
      this.#redis.xlen(this.#key),
      this.#redis.hgetall(this.#epochsKey),
    ]);
    const pos = (rows: [string, string[]][]): { epoch: number; seq: number } | undefined => {
      const id = rows[0]?.[0];
      if (!id) return undefined;
      const [e, s] = id.split('-');
      return { epoch: Number(e), seq: Number(s) };
    };
    const f = pos(first);
    const l = pos(last);
    const ends = new Map(Object.entries(epochs).map(([e, s]) => [Number(e), Number(s)]));
    return { length, ends, ...(f ? { first: f } : {}), ...(l ? { last: l } : {}) };
  }

  /** Resolves when Redis answers. */
  async ping(): Promise<void> {
    if (this.#redis.status !== 'ready') throw new JournalError(`journal Redis connection is ${this.#redis.status}`);
    await this.#redis.ping();
  }

  close(): Promise<void> {
    this.#closing ??= this.#redis.quit().then(
      () => undefined,
      () => this.#redis.disconnect(),
    );
    return this.#closing;
  }
}
