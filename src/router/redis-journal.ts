import type { Redis } from 'ioredis';
import { createRedis, waitForReplicas } from '../redis/redis-client.js';
import { JournalError } from '../errors.js';
import { redact } from '../redact.js';

/** Fewest entries one XRANGE of {@link RedisJournal.since} asks for. */
const READ_PAGE_MIN = 16;

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
  /**
   * Replicas that must have each batch before it counts as written (Redis `WAIT`); 0
   * (the default) does not wait. See {@link RedisJournal.append}.
   */
  waitReplicas?: number;
  /** How long to wait for them, in ms (default 1000). */
  waitTimeoutMs?: number;
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
  /**
   * Replays and status read on a connection of their own: replies on one connection come
   * in order, so a write would otherwise wait for a replay's megabytes to arrive, and
   * intake (which waits for its writes) with it.
   */
  readonly #reader: Redis;
  readonly #key: string;
  readonly #epochsKey: string;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #url: string;
  readonly #waitReplicas: number;
  readonly #waitTimeoutMs: number;
  /** Running average size of an event, for the byte bound. */
  #avgBytes = 1024;
  #closing: Promise<void> | undefined;

  constructor(options: RedisJournalOptions) {
    const connect = (role: string): Redis => {
      const redis = createRedis(options.redisUrl, {
        maxRetriesPerRequest: 1,
        connectionName: `event-reactor-journal${role}:${options.name}`,
        lazyConnect: true,
        enableOfflineQueue: true,
      });
      redis.on('error', () => undefined); // each command reports its own failure
      return redis;
    };
    this.#redis = connect('');
    this.#reader = connect('-reader');
    this.#key = `er:journal:{${options.name}}`;
    this.#epochsKey = `er:journal-epochs:{${options.name}}`;
    this.#maxEvents = options.maxEvents;
    this.#maxBytes = options.maxBytes;
    this.#url = options.redisUrl;
    this.#waitReplicas = options.waitReplicas ?? 0;
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 1000;
  }

  get key(): string {
    return this.#key;
  }

  /** Connect. @throws {JournalError} naming the URL (password hidden) when Redis does not answer */
  async start(): Promise<void> {
    try {
      await Promise.all([this.#redis.connect(), this.#reader.connect()]);
    } catch (err) {
      throw new JournalError(`cannot reach the journal's Redis at ${redact(this.#url)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The most events kept: the count bound, lowered to keep about `maxBytes`. */
  get #cap(): number {
    return Math.max(1, Math.min(this.#maxEvents, Math.floor(this.#maxBytes / this.#avgBytes)));
  }

  /**
   * Add a batch, in order, in one round trip; resolves once Redis has every entry, and
   * with `waitReplicas` once that many replicas have it too: Redis replicates
   * asynchronously, so a primary that dies (and is replaced by a replica, under Sentinel)
   * can take its last writes with it; waiting makes an acknowledged event survive that.
   * Fewer replicas within `waitTimeoutMs` is a failure: the caller holds the batch and
   * retries (the entries already there are refused as duplicates; the wait is asked again).
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
    if (this.#waitReplicas > 0) {
      let acked: number;
      try {
        acked = await waitForReplicas(this.#redis, this.#epochsKey, this.#waitReplicas, this.#waitTimeoutMs);
      } catch (err) {
        throw new JournalError(`journal write not confirmed by replicas: ${(err as Error).message}`, { cause: err });
      }
      if (acked < this.#waitReplicas)
        throw new JournalError(`journal write reached ${acked} of ${this.#waitReplicas} replicas within ${this.#waitTimeoutMs} ms`);
    }
  }

  /**
   * Entries after `(epoch, seq)`, oldest first, at most `limit` and about `maxBytes`,
   * crossing into later epochs. Read in pages of about the bytes still wanted (sized by
   * the larger of the running average and this read's), so a reply of `maxBytes` costs
   * about that much, not up to `limit` events of any size: with large events one
   * XRANGE of `limit` entries could be the whole journal.
   */
  async since(epoch: number, seq: number, limit: number, maxBytes: number): Promise<JournalRead> {
    const entries: JournalEntry[] = [];
    let bytes = 0;
    let after = `${epoch}-${seq}`;
    for (;;) {
      const avg = Math.max(this.#avgBytes, entries.length > 0 ? bytes / entries.length : 0);
      const count = Math.min(limit - entries.length + 1, Math.max(READ_PAGE_MIN, Math.ceil((maxBytes - bytes) / avg) + 1));
      const rows = (await this.#reader.xrangeBuffer(this.#key, `(${after}`, '+', 'COUNT', count)) as [Buffer, Buffer[]][];
      for (const [i, [id, fields]] of rows.entries()) {
        const body = fields[1]!;
        if (entries.length === limit || (entries.length > 0 && bytes + body.length > maxBytes)) return { entries, more: true };
        const [e, s] = id.toString('latin1').split('-');
        const entry = { epoch: Number(e), seq: Number(s), body };
        // A later page that does not go on from the last entry (trimmed in between, or the
        // next epoch): end the reply here, as one XRANGE would have had no such hole; the
        // next request sees the journal as it is then (and any missed range).
        const last = entries.at(-1);
        if (i === 0 && last && (entry.epoch !== last.epoch || entry.seq !== last.seq + 1)) return { entries, more: true };
        entries.push(entry);
        bytes += body.length;
        after = `${e}-${s}`;
      }
      if (rows.length < count) return { entries, more: false };
    }
  }

  /** Length, first and last positions, and the last seq of every epoch journaled. */
  async extent(): Promise<JournalExtent> {
    const [first, last, length, epochs] = await Promise.all([
      this.#reader.xrange(this.#key, '-', '+', 'COUNT', 1),
      this.#reader.xrevrange(this.#key, '+', '-', 'COUNT', 1),
      this.#reader.xlen(this.#key),
      this.#reader.hgetall(this.#epochsKey),
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
    const quit = (redis: Redis): Promise<void> =>
      redis.quit().then(
        () => undefined,
        () => redis.disconnect(),
      );
    this.#closing ??= Promise.all([quit(this.#redis), quit(this.#reader)]).then(() => undefined);
    return this.#closing;
  }
}
