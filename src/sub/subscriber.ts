import * as zmq from 'zeromq';
import type { Registry } from 'prom-client';
import { EventValidationError, coerceError } from '../errors.js';
import { eventKey, type ReactorEvent } from '../event/event.js';
import { parsePublished, publishedFromValue } from '../event/validate.js';
import type { Logger } from '../logger.js';
import { counter } from '../metrics.js';
import type { Archive, Cursor } from '../archive/archive.js';
import type { SubSettings } from '../config/settings.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { HandlerJobData } from '../queue/job.js';
import { bodyOf } from '../wire/framing.js';
import { Batcher } from '../lifecycle/batcher.js';
import type { Matcher } from './matcher.js';
import { ReplayClient } from '../wire/replay-client.js';

/** An event waiting to be stored; `cursor` is set on events taken in sequence. */
interface Batched {
  event: ReactorEvent;
  cursor?: Cursor;
}

export interface SubscriberOptions {
  settings: SubSettings;
  matcher: Matcher;
  archive: Archive;
  queue: Pick<JobQueue, 'addBulk'>;
  log: Logger;
  registry: Registry;
  /** Most events held in memory before reading from the PUB socket pauses. Default 20 x batch size. */
  maxBuffered?: number;
  /** With no live event for this long, ask the router whether anything was missed. Default 5000 ms. */
  idleCheckMs?: number;
  /** Failed replay requests before the missing range is given up as lost. Default 5. */
  replayAttempts?: number;
}

/**
 * The subscriber daemon: reads the router's PUB stream, archives every event and
 * enqueues one job per matching handler, in batches. It follows the router's sequence
 * numbers: on start (from its saved cursor), on a gap, after a router restart and when
 * the stream goes quiet, it fetches what it missed from the router's replay socket.
 * A range the router no longer holds is counted, logged and recorded in `gaps`.
 */
export class Subscriber {
  readonly #options: SubscriberOptions;
  readonly #log: Logger;
  readonly #sock: zmq.Subscriber;
  readonly #replay: ReplayClient;
  readonly #batcher: Batcher<Batched>;
  readonly #maxBuffered: number;
  readonly #m;
  /** Last event handed to the batcher, in sequence. */
  #position: Cursor | undefined;
  /** Live events that arrived ahead of a gap, held while the gap is repaired. */
  #pending: ReactorEvent[] = [];
  #repairing: Promise<void> | undefined;
  /** Gap records being written; close() waits for them. */
  readonly #gapWrites = new Set<Promise<void>>();
  #lastLiveAt = Date.now();
  #idleTimer: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SubscriberOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#sock = new zmq.Subscriber({ receiveHighWaterMark: 100_000, linger: 0 });
    this.#replay = new ReplayClient(options.settings.replayUri);
    this.#maxBuffered = options.maxBuffered ?? options.settings.batchSize * 20;
    const r = options.registry;
    this.#m = {
      received: counter(r, 'sub_events_received_total', 'Events received from the PUB stream'),
      replayed: counter(r, 'sub_events_replayed_total', 'Events fetched from the router replay socket'),
      archived: counter(r, 'sub_events_archived_total', 'Events newly stored in the archive'),
      duplicates: counter(r, 'sub_events_duplicate_total', 'Events seen again (same id or an already passed sequence number)'),
      refused: counter(r, 'sub_messages_refused_total', 'Messages on the PUB stream that are not events', ['reason']),
      enqueued: counter(r, 'sub_jobs_enqueued_total', 'Handler jobs handed to BullMQ'),
      gaps: counter(r, 'sub_sequence_gaps_total', 'Gaps seen in the router sequence (repaired or not)'),
      lost: counter(r, 'sub_events_lost_total', 'Events in gaps the router could no longer replay'),
      flushErrors: counter(r, 'sub_flush_errors_total', 'Failed archive/enqueue batch attempts (retried)'),
    };
    this.#batcher = new Batcher<Batched>({
      maxItems: options.settings.batchSize,
      maxDelayMs: options.settings.batchMs,
      flush: (events) => this.#flush(events),
      onError: (err, items, attempt) => {
        this.#m.flushErrors.inc();
        this.#log.error({ err: coerceError(err), items, attempt }, 'batch failed; retrying');
      },
    });
  }

  /** Load the saved cursor, connect to the PUB stream, and catch up on what was missed. */
  async start(): Promise<void> {
    this.#position = await this.#options.archive.loadCursor(this.#options.settings.name);
    this.#sock.connect(this.#options.settings.publisherUri);
    this.#sock.subscribe();
    this.#loop = this.#receive();
    this.#log.info({ publisher: this.#options.settings.publisherUri, replay: this.#options.settings.replayUri, cursor: this.#position ?? null, keys: this.#options.matcher.size }, 'subscriber connected');
    this.#startRepair();
    const idleMs = this.#options.idleCheckMs ?? 5000;
    this.#idleTimer = setInterval(() => {
      if (!this.#repairing && Date.now() - this.#lastLiveAt >= idleMs) this.#startRepair();
    }, idleMs);
    this.#idleTimer.unref();
  }

  async #receive(): Promise<void> {
    try {
      for await (const frames of this.#sock) {
        this.#m.received.inc();
        this.#lastLiveAt = Date.now();
        const event = this.#parse(frames);
        if (event) this.#offer(event);
        if (this.#batcher.buffered >= this.#maxBuffered) await this.#batcher.settled();
      }
    } catch (err) {
      if (!this.#closing) this.#log.error({ err }, 'SUB receive loop failed');
    }
  }

  #parse(frames: Buffer[]): ReactorEvent | undefined {
    const body = bodyOf(frames);
    try {
      if (!body) throw new EventValidationError('bad_frames', `expected 1 or 2 frames, got ${frames.length}`);
      return parsePublished(body.toString('utf8'));
    } catch (err) {
      const reason = err instanceof EventValidationError ? err.reason : 'internal';
      this.#m.refused.inc({ reason });
      this.#log.warn({ reason, detail: (err as Error).message }, 'message on PUB stream refused');
      return undefined;
    }
  }

  /**
   * Where `e` stands against our position: a repeat, the next in sequence, one that
   * cannot be sequenced (from a legacy publisher without `seq`, or from an older router
   * run, e.g. a late replay: archived as it comes, the archive dedups), or one after a gap.
   */
  #classify(e: ReactorEvent): 'duplicate' | 'next' | 'unsequenced' | 'gap' {
    if (e.seq <= 0) return 'unsequenced';
    const p = this.#position;
    if (p && e.epoch === p.epoch) {
      if (e.seq <= p.seq) return 'duplicate';
      if (e.seq === p.seq + 1) return 'next';
    }
    if (p && e.epoch < p.epoch) return 'unsequenced';
    return 'gap';
  }

  /** A live event: accept it in sequence, drop a repeat, or hold it and repair a gap. */
  #offer(e: ReactorEvent): void {
    if (this.#repairing && e.seq > 0) {
      if (this.#pending.length < this.#maxBuffered) this.#pending.push(e);
      // else: dropped here, fetched again by the repair from the router's buffer.
      return;
    }
    const verdict = this.#classify(e);
    if (verdict === 'gap') {
      this.#m.gaps.inc();
      this.#pending.push(e);
      this.#startRepair();
    } else {
      this.#take(e, verdict);
    }
  }

  /** Act on an event that is not after a gap. */
  #take(e: ReactorEvent, verdict: 'duplicate' | 'next' | 'unsequenced'): void {
    if (verdict === 'duplicate') this.#m.duplicates.inc();
    else if (verdict === 'next') this.#accept(e);
    else this.#batcher.add({ event: e });
  }

  /** The next event in sequence: it moves our position, and the cursor once it is stored. */
  #accept(e: ReactorEvent): void {
    this.#position = { epoch: e.epoch, seq: e.seq };
    this.#batcher.add({ event: e, cursor: this.#position });
  }

  #startRepair(): void {
    if (this.#repairing || this.#closing) return;
    const started = Date.now();
    const from = this.#position;
    this.#repairing = this.#repair()
      .then((replayed) => {
        if (replayed > 0) this.#log.info({ replayed, from: from ?? null, to: this.#position ?? null, ms: Date.now() - started }, 'caught up from the replay socket');
      })
      .catch((err: unknown) => this.#log.error({ err: coerceError(err) }, 'replay repair failed'))
      .finally(() => {
        this.#repairing = undefined;
      });
  }

  /**
   * Fetch from the replay socket until caught up, then release held live events.
   * Returns how many events the replay socket gave.
   */
  async #repair(): Promise<number> {
    let replayed = 0;
    for (;;) {
      const fetched = await this.#fetchMissed();
      if (fetched === undefined && this.#closing) {
        // Shutting down with the router out of reach: keep the cursor before the gap and
        // let the next start fetch it (and the held events) from the router's buffer.
        this.#pending = [];
        return replayed;
      }
      replayed += fetched ?? 0;
      const held = this.#pending.sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
      this.#pending = [];
      let i = 0;
      for (; i < held.length; i++) {
        const e = held[i]!;
        const verdict = this.#classify(e);
        if (verdict !== 'gap') {
          this.#take(e, verdict);
        } else if (fetched === undefined) {
          // The router could not be asked: what lies before this event is lost for good.
          this.#lose(this.#position, e, 'replay socket unreachable');
          this.#accept(e);
        } else {
          break;
        }
      }
      if (i >= held.length || this.#closing) return replayed;
      this.#pending = held.slice(i).concat(this.#pending);
    }
  }

  /**
   * Ask the router for everything after our position. Returns how many events it gave,
   * or undefined when it could not be reached.
   */
  async #fetchMissed(): Promise<number | undefined> {
    const attempts = this.#options.replayAttempts ?? 5;
    let replayed = 0;
    for (let failures = 0; ; ) {
      const p = this.#position;
      let reply;
      try {
        reply = await this.#replay.since(p?.epoch ?? 0, p?.seq ?? 0);
      } catch (err) {
        failures++;
        this.#log.warn({ err: coerceError(err), failures }, 'replay request failed');
        if (failures >= attempts || this.#closing) return undefined;
        await new Promise((r) => setTimeout(r, Math.min(1000 * failures, 5000)));
        continue;
      }
      if (reply.epoch_changed) {
        if (p) this.#log.warn({ previous: p, epoch: reply.epoch }, 'router restarted since our last event; continuing with its new epoch');
        else this.#log.info({ epoch: reply.epoch, firstSeq: reply.first_seq }, 'no saved cursor; starting from the oldest buffered event');
        this.#position = { epoch: reply.epoch, seq: 0 };
      }
      if (reply.missed) {
        if (p && !reply.epoch_changed) {
          this.#recordLost(reply.missed.epoch, reply.missed.from, reply.missed.to, 'no longer in the router replay buffer');
        }
        this.#position = { epoch: reply.missed.epoch, seq: reply.missed.to };
      }
      for (const value of reply.events) {
        const e = publishedFromValue(value);
        const q = this.#position!;
        if (e.epoch === q.epoch && e.seq === q.seq + 1) {
          this.#m.replayed.inc();
          replayed++;
          this.#accept(e);
        }
      }
      if (!reply.more) return replayed;
      if (this.#batcher.buffered >= this.#maxBuffered) await this.#batcher.settled();
    }
  }

  #lose(p: Cursor | undefined, next: ReactorEvent, reason: string): void {
    if (!p) {
      // A new subscriber that never reached the router: it cannot tell what it missed.
      this.#log.warn({ epoch: next.epoch, seq: next.seq, reason }, 'starting from a live event without replay');
      return;
    }
    const from = p.epoch === next.epoch ? p.seq + 1 : 1;
    if (next.seq > from) this.#recordLost(next.epoch, from, next.seq - 1, reason);
  }

  #recordLost(epoch: number, from: number, to: number, reason: string): void {
    const count = to - from + 1;
    this.#m.lost.inc(count);
    this.#log.error({ epoch, from, to, count, reason }, 'events lost: sequence gap could not be repaired');
    const writing = this.#options.archive
      .recordGap({ subscriber: this.#options.settings.name, epoch, from, to, count, reason, detected_at: new Date() })
      .catch((err: unknown) => this.#log.error({ err: coerceError(err), epoch, from, to }, 'could not record gap'))
      .finally(() => this.#gapWrites.delete(writing));
    this.#gapWrites.add(writing);
  }

  async #flush(items: Batched[]): Promise<void> {
    const events = items.map((i) => i.event);
    const { inserted, duplicates } = await this.#options.archive.insertEvents(events);
    this.#m.archived.inc(inserted);
    if (duplicates > 0) this.#m.duplicates.inc(duplicates);
    const jobs: HandlerJobData[] = [];
    for (const event of events) {
      for (const handler of this.#options.matcher.match(eventKey(event))) jobs.push({ event, handler });
    }
    if (jobs.length > 0) {
      await this.#options.queue.addBulk(jobs);
      this.#m.enqueued.inc(jobs.length);
    }
    // Sequenced events reach the batcher in order: the last one's position is the cursor.
    const cursor = items.findLast((i) => i.cursor)?.cursor;
    if (cursor) await this.#options.archive.saveCursor(this.#options.settings.name, cursor);
    this.#log.debug({ events: events.length, inserted, duplicates, jobs: jobs.length }, 'batch flushed');
  }

  /** Last (epoch, seq) handed on for archiving. */
  get position(): Cursor | undefined {
    return this.#position;
  }

  /** Stop receiving, flush what was received and save the cursor. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#idleTimer);
      this.#sock.close();
      await this.#loop;
      await this.#repairing;
      this.#replay.close();
      await this.#batcher.drain();
      await Promise.all(this.#gapWrites);
      this.#log.info({ position: this.#position ?? null }, 'subscriber closed');
    })();
    return this.#closing;
  }
}
