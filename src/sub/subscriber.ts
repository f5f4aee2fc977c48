import * as zmq from 'zeromq';
import type { Registry } from 'prom-client';
import { EventValidationError, RouterRefusedError, coerceError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import { parsePublished, publishedFromValue } from '../event/validate.js';
import type { Logger } from '../logger.js';
import { counter } from '../metrics.js';
import type { Archive, Cursor } from '../archive/archive.js';
import type { SubSettings } from '../config/settings.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { HandlerJobData } from '../queue/job.js';
import { bodyOf } from '../wire/framing.js';
import { Batcher } from '../lifecycle/batcher.js';
import { retryDelay } from '../lifecycle/retry-delay.js';
import type { Decided, EmittedEvent, RuleDecider } from './rule-decider.js';
import { Sequencer, type LostRange, type Taken } from './sequencer.js';
import { ReplayClient } from '../wire/replay-client.js';
import { curveClientOptions, type CurveClientKeys } from '../wire/curve.js';

/**
 * The cursor is saved at most this often, in ms. A save costs the archive about as much as
 * inserting a small batch (1.2 ms of FerretDB's CPU on the reference machine), and at
 * 1,000 events/s batches of a few ms would otherwise save it hundreds of times a second.
 * A restart after a crash fetches this much more again from the router's replay buffer;
 * those events are archived and run once all the same (event ids, job ids).
 */
const CURSOR_SAVE_MS = 100;

export interface SubscriberOptions {
  /** One router's endpoints and the cursor kept for it (`name`). */
  settings: Omit<SubSettings, 'routers'>;
  /** The handler table and its rules: what to enqueue for each event. */
  rules: RuleDecider;
  /** Fires the event of a completed correlation through the router (REQ). */
  emit?: (event: EmittedEvent) => Promise<unknown>;
  /** CURVE keys for the PUB and replay sockets (`security.curve`). */
  curve?: CurveClientKeys | undefined;
  archive: Archive;
  queue: Pick<JobQueue, 'addBulk'>;
  log: Logger;
  /** Where its counters are registered, unless `metrics` is given. */
  registry: Registry;
  /** Counters it shares with the subscribers of the daemon's other routers. */
  metrics?: SubscriberMetrics;
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
  readonly #batcher: Batcher<Taken>;
  readonly #maxBuffered: number;
  readonly #m;
  /** Position in the router's stream and the live events held during a repair; set by start(). */
  #sequencer: Sequencer = new Sequencer(undefined, 0);
  #repairing: Promise<void> | undefined;
  /** Gap records being written; close() waits for them. */
  readonly #gapWrites = new Set<Promise<void>>();
  /** Each batch item's decisions, from the archive step to the enqueue step. */
  readonly #decided = new WeakMap<Taken, Decided>();
  /** Events taken but not yet archived and enqueued, in the order taken, with their router timestamp (s). */
  readonly #pending = new Map<Taken, number>();
  /** Position archived and enqueued but not saved yet; the loop saving it. */
  #unsaved: Cursor | undefined;
  #cursorSaving: Promise<void> | undefined;
  #cursorSavedAt = 0;
  #lastLiveAt = Date.now();
  #idleTimer: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SubscriberOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#sock = new zmq.Subscriber({ receiveHighWaterMark: 100_000, linger: 0, ...curveClientOptions(options.curve) });
    this.#replay = new ReplayClient(options.settings.replayUri, 5000, options.curve);
    this.#maxBuffered = options.maxBuffered ?? options.settings.batchSize * 20;
    this.#m = options.metrics ?? subscriberMetrics(options.registry);
    // Two steps per batch: archive, then enqueue and move the cursor. While one batch is
    // being enqueued the next is being archived; an event is enqueued only once archived.
    this.#batcher = new Batcher<Taken>({
      maxItems: options.settings.batchSize,
      maxDelayMs: options.settings.batchMs,
      flush: (items) => this.#archive(items),
      after: (items) => this.#enqueue(items),
      onError: (err, items, attempt, step) => {
        this.#m.flushErrors.inc();
        this.#log.error({ err: coerceError(err), items, attempt, step: step === 'flush' ? 'archive' : 'enqueue' }, 'batch failed; retrying');
      },
    });
  }

  /** Load the saved cursor, connect to the PUB stream, and catch up on what was missed. */
  async start(): Promise<void> {
    this.#sequencer = new Sequencer(await this.#options.archive.loadCursor(this.#options.settings.name), this.#maxBuffered);
    this.#sock.connect(this.#options.settings.publisherUri);
    this.#sock.subscribe();
    this.#loop = this.#receive();
    this.#log.info(
      {
        publisher: this.#options.settings.publisherUri,
        replay: this.#options.settings.replayUri,
        cursor: this.#sequencer.position ?? null,
        keys: this.#options.rules.table.keyCount,
        handlers: this.#options.rules.table.hash,
      },
      'subscriber connected',
    );
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

  /** A live event: taken in sequence, dropped as a repeat, or held while a gap is repaired. */
  #offer(e: ReactorEvent): void {
    const d = this.#sequencer.offer(e, this.#repairing !== undefined);
    if (d.action === 'take') this.#take(d.taken);
    else if (d.action === 'duplicate') this.#m.duplicates.inc();
    else if (d.action === 'hold' && d.repair) {
      this.#m.gaps.inc();
      this.#startRepair();
    }
    // 'drop': the hold is full; the repair fetches the event again from the router's buffer.
  }

  /** Its cursor's name: the router it follows. */
  get name(): string {
    return this.#options.settings.name;
  }

  /**
   * Lag: events received but not yet archived and enqueued (in batches, or held while a
   * gap is repaired), and the router timestamp (s) of the oldest of them in batches.
   */
  lag(): { events: number; oldest: number | undefined } {
    const oldest = this.#pending.values().next();
    return { events: this.#pending.size + this.#sequencer.held, oldest: oldest.done ? undefined : oldest.value };
  }

  /** Hand an event to the batches; it counts as lag until its batch is enqueued. */
  #take(t: Taken): void {
    this.#pending.set(t, t.event.timestamp);
    this.#batcher.add(t);
  }

  #startRepair(): void {
    if (this.#repairing || this.#closing) return;
    const started = Date.now();
    const from = this.#sequencer.position;
    this.#repairing = this.#repair()
      .then((replayed) => {
        if (replayed > 0)
          this.#log.info({ replayed, from: from ?? null, to: this.#sequencer.position ?? null, ms: Date.now() - started }, 'caught up from the replay socket');
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
        this.#sequencer.dropHeld();
        return replayed;
      }
      replayed += fetched ?? 0;
      const released = this.#sequencer.release(fetched !== undefined);
      for (const t of released.taken) this.#take(t);
      if (released.duplicates > 0) this.#m.duplicates.inc(released.duplicates);
      for (const l of released.lost) this.#recordLost(l);
      if (released.blind) this.#log.warn({ ...released.blind, reason: 'replay socket unreachable' }, 'starting from a live event without replay');
      if (released.done) return replayed;
      if (this.#closing) {
        this.#sequencer.dropHeld();
        return replayed;
      }
    }
  }

  /**
   * Ask the router for everything after our position. Returns how many events it gave,
   * or undefined when it could not be reached.
   */
  async #fetchMissed(): Promise<number | undefined> {
    const attempts = this.#options.replayAttempts ?? 5;
    let replayed = 0;
    for (let failures = 0; ;) {
      const p = this.#sequencer.position;
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
      const step = this.#sequencer.applyReplay({ ...reply, events: reply.events.map(publishedFromValue) });
      if (step.epochChanged?.previous)
        this.#log.warn(
          { previous: step.epochChanged.previous, epoch: step.epochChanged.epoch },
          'router restarted since our last event; continuing with its new epoch',
        );
      else if (step.epochChanged) this.#log.info({ epoch: reply.epoch, firstSeq: reply.first_seq }, 'no saved cursor; starting from the oldest buffered event');
      for (const l of step.lost) this.#recordLost(l);
      for (const t of step.taken) this.#take(t);
      this.#m.replayed.inc(step.taken.length);
      replayed += step.taken.length;
      if (!reply.more) return replayed;
      if (this.#batcher.buffered >= this.#maxBuffered) await this.#batcher.settled();
    }
  }

  #recordLost({ epoch, from, to, reason }: LostRange): void {
    // An unknown end is recorded as such (count null), never as "nothing lost".
    const count = to === null ? null : to - from + 1;
    if (count !== null) this.#m.lost.inc(count);
    else this.#m.unknownGaps.inc();
    this.#log.error({ epoch, from, to, count, reason }, 'events lost: sequence gap could not be repaired');
    const writing = this.#options.archive
      .recordGap({ subscriber: this.#options.settings.name, epoch, from, to, count, reason, detected_at: new Date() })
      .catch((err: unknown) => this.#log.error({ err: coerceError(err), epoch, from, to }, 'could not record gap'))
      .finally(() => this.#gapWrites.delete(writing));
    this.#gapWrites.add(writing);
  }

  /**
   * First step of a batch: decide each event's handlers (once: a retried batch keeps its
   * decisions), then store the events with their `decisions`.
   */
  async #archive(items: Taken[]): Promise<void> {
    for (const item of items) {
      if (!this.#decided.has(item)) this.#decided.set(item, await this.#options.rules.decide(item.event));
    }
    const extras = items.map((i) => ({ decisions: this.#decided.get(i)!.decisions }));
    const r = await this.#options.archive.insertEvents(
      items.map((i) => i.event),
      extras,
    );
    this.#m.archived.inc(r.inserted);
    if (r.duplicates > 0) this.#m.duplicates.inc(r.duplicates);
    if (r.conflicts > 0) this.#m.conflicts.inc(r.conflicts);
    if (r.rejected > 0) this.#m.rejected.inc(r.rejected);
    this.#log.debug({ events: items.length, ...r }, 'batch archived');
  }

  /** Second step, once the batch is archived: the jobs decided, the correlations' events, then the cursor. */
  async #enqueue(items: Taken[]): Promise<void> {
    const jobs: HandlerJobData[] = [];
    const emissions: Decided['emissions'] = [];
    for (const item of items) {
      const d = this.#decided.get(item);
      if (!d) continue;
      jobs.push(...d.jobs);
      emissions.push(...d.emissions);
    }
    if (jobs.length > 0) {
      await this.#options.queue.addBulk(jobs);
      this.#m.enqueued.inc(jobs.length);
    }
    // Sent again if the step is retried: the event's id is derived from what completed it,
    // so the archive and the queue take it once.
    for (const e of emissions) await this.#emit(e.event, e.correlation);
    for (const item of items) {
      this.#decided.delete(item);
      this.#pending.delete(item);
    }
    // Sequenced events reach the batcher in order, and batches their second step: the
    // last one's position is the cursor, and every event before it is archived and enqueued.
    const cursor = items.findLast((i) => i.cursor)?.cursor;
    if (cursor) this.#moveCursor(cursor);
    this.#log.debug({ events: items.length, jobs: jobs.length }, 'batch flushed');
  }

  /**
   * Fire a correlation's event. Unreachable router: thrown, the step is retried. Refused
   * (too many hops, a scope): counted and logged with the reason, not retried.
   */
  async #emit(event: EmittedEvent, correlation: string): Promise<void> {
    if (!this.#options.emit) {
      this.#m.emitted.inc({ result: 'no_router' });
      this.#log.error(
        { correlation, event },
        'correlation completed but no router REP endpoint is configured to fire its event (a ZMQInput feeder or worker.router_uri)',
      );
      return;
    }
    try {
      await this.#options.emit(event);
      this.#m.emitted.inc({ result: 'ok' });
      this.#log.info(
        { correlation, eventId: event.id, key: `${event.namespace}:${event.event_type}`, correlated: event.correlated },
        'correlation completed; event fired',
      );
    } catch (err) {
      if (!(err instanceof RouterRefusedError)) throw err;
      this.#m.emitted.inc({ result: 'refused' });
      this.#log.error({ correlation, eventId: event.id, reason: err.message }, 'the router refused the event of a completed correlation');
    }
  }

  /** Save `cursor` (or a later one) soon: at most every {@link CURSOR_SAVE_MS}, one save at a time. */
  #moveCursor(cursor: Cursor): void {
    this.#unsaved = cursor;
    this.#cursorSaving ??= this.#saveCursors().finally(() => {
      this.#cursorSaving = undefined;
      // Moved after the loop's last look.
      if (this.#unsaved) this.#moveCursor(this.#unsaved);
    });
  }

  /** Save the latest unsaved cursor until none is left; retried while the archive is down. */
  async #saveCursors(): Promise<void> {
    for (let attempt = 1; this.#unsaved;) {
      const wait = this.#cursorSavedAt + CURSOR_SAVE_MS - Date.now();
      if (wait > 0 && !this.#closing) await new Promise((r) => setTimeout(r, wait));
      const cursor = this.#unsaved;
      this.#cursorSavedAt = Date.now();
      try {
        await this.#options.archive.saveCursor(this.#options.settings.name, cursor);
        if (this.#unsaved === cursor) this.#unsaved = undefined;
        attempt = 1;
      } catch (err) {
        this.#m.flushErrors.inc();
        this.#log.error({ err: coerceError(err), cursor, attempt }, 'cursor not saved; retrying');
        await new Promise((r) => setTimeout(r, retryDelay(attempt++)));
      }
    }
  }

  /** Last (epoch, seq) handed on for archiving. */
  get position(): Cursor | undefined {
    return this.#sequencer.position;
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
      while (this.#cursorSaving) await this.#cursorSaving;
      await Promise.all(this.#gapWrites);
      this.#log.info({ position: this.#sequencer.position ?? null }, 'subscriber closed');
    })();
    return this.#closing;
  }
}

/** The counters of a subscriber; the subscribers of several routers in one daemon share them. */
export function subscriberMetrics(r: Registry) {
  return {
    received: counter(r, 'sub_events_received_total', 'Events received from the PUB stream'),
    replayed: counter(r, 'sub_events_replayed_total', 'Events fetched from the router replay socket'),
    archived: counter(r, 'sub_events_archived_total', 'Events newly stored in the archive'),
    duplicates: counter(r, 'sub_events_duplicate_total', 'Events seen again (same id or an already passed sequence number)'),
    refused: counter(r, 'sub_messages_refused_total', 'Messages on the PUB stream that are not events', ['reason']),
    enqueued: counter(r, 'sub_jobs_enqueued_total', 'Handler jobs handed to BullMQ'),
    gaps: counter(r, 'sub_sequence_gaps_total', 'Gaps seen in the router sequence (repaired or not)'),
    lost: counter(r, 'sub_events_lost_total', 'Events in gaps the router could no longer replay'),
    unknownGaps: counter(r, 'sub_unknown_gaps_total', 'Ranges whose events may be lost but cannot be counted (a router restarted without a durable journal)'),
    flushErrors: counter(r, 'sub_flush_errors_total', 'Failed archive/enqueue batch attempts (retried)'),
    conflicts: counter(r, 'sub_events_conflicting_total', 'Events whose id was already archived with other content (kept in conflicts)'),
    rejected: counter(r, 'sub_events_rejected_total', 'Events MongoDB refused even as JSON text (kept in rejected)'),
    emitted: counter(r, 'sub_correlation_events_fired_total', 'Events fired by completed correlations', ['result']),
  };
}

/** Counters shared by the subscribers of one daemon. */
export type SubscriberMetrics = ReturnType<typeof subscriberMetrics>;
