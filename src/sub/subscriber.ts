import * as zmq from 'zeromq';
import type { Registry } from 'prom-client';
import { EventValidationError, coerceError } from '../errors.js';
import { eventKey, parsePublished, type ReactorEvent } from '../event.js';
import type { Logger } from '../logger.js';
import { counter } from '../metrics.js';
import type { Archive } from '../archive/archive.js';
import type { SubSettings } from '../config/settings.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { HandlerJobData } from '../queue/job.js';
import { bodyOf } from '../router/framing.js';
import { Batcher } from './batcher.js';
import type { Matcher } from './matcher.js';

export interface SubscriberOptions {
  settings: SubSettings;
  matcher: Matcher;
  archive: Archive;
  queue: Pick<JobQueue, 'addBulk'>;
  log: Logger;
  registry: Registry;
  /** Most events held in memory before reading from the PUB socket pauses. Default 20 x batch size. */
  maxBuffered?: number;
}

/**
 * The subscriber daemon: reads the router's PUB stream, archives every event and
 * enqueues one job per matching handler. Archive writes and enqueues are batched.
 */
export class Subscriber {
  readonly #o: SubscriberOptions;
  readonly #log: Logger;
  readonly #sock: zmq.Subscriber;
  readonly #batcher: Batcher<ReactorEvent>;
  readonly #maxBuffered: number;
  readonly #m;
  #last: { epoch: number; seq: number } | undefined;
  #loop: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SubscriberOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#sock = new zmq.Subscriber({ receiveHighWaterMark: 100_000, linger: 0 });
    this.#maxBuffered = options.maxBuffered ?? options.settings.batchSize * 20;
    const r = options.registry;
    this.#m = {
      received: counter(r, 'sub_events_received_total', 'Events received from the PUB stream'),
      archived: counter(r, 'sub_events_archived_total', 'Events newly stored in the archive'),
      duplicates: counter(r, 'sub_events_duplicate_total', 'Events already in the archive (same id)'),
      refused: counter(r, 'sub_messages_refused_total', 'Messages on the PUB stream that are not events', ['reason']),
      enqueued: counter(r, 'sub_jobs_enqueued_total', 'Handler jobs handed to BullMQ'),
      gaps: counter(r, 'sub_sequence_gaps_total', 'Gaps seen in the router sequence'),
      missed: counter(r, 'sub_events_missed_total', 'Events missing in sequence gaps'),
      flushErrors: counter(r, 'sub_flush_errors_total', 'Failed archive/enqueue batch attempts (retried)'),
    };
    this.#batcher = new Batcher<ReactorEvent>({
      maxItems: options.settings.batchSize,
      maxDelayMs: options.settings.batchMs,
      flush: (events) => this.#flush(events),
      onError: (err, items, attempt) => {
        this.#m.flushErrors.inc();
        this.#log.error({ err: coerceError(err), items, attempt }, 'batch failed; retrying');
      },
    });
  }

  /** Connect to the PUB stream and start receiving. */
  start(): void {
    this.#sock.connect(this.#o.settings.publisherUri);
    this.#sock.subscribe();
    this.#loop = this.#receive();
    this.#log.info({ publisher: this.#o.settings.publisherUri, keys: this.#o.matcher.size }, 'subscriber connected');
  }

  async #receive(): Promise<void> {
    try {
      for await (const frames of this.#sock) {
        this.#m.received.inc();
        this.#take(frames);
        if (this.#batcher.buffered >= this.#maxBuffered) await this.#batcher.settled();
      }
    } catch (err) {
      if (!this.#closing) this.#log.error({ err }, 'SUB receive loop failed');
    }
  }

  #take(frames: Buffer[]): void {
    const body = bodyOf(frames);
    let event: ReactorEvent;
    try {
      if (!body) throw new EventValidationError('bad_frames', `expected 1 or 2 frames, got ${frames.length}`);
      event = parsePublished(body.toString('utf8'));
    } catch (err) {
      const reason = err instanceof EventValidationError ? err.reason : 'internal';
      this.#m.refused.inc({ reason });
      this.#log.warn({ reason, detail: (err as Error).message }, 'message on PUB stream refused');
      return;
    }
    this.#trackSequence(event);
    this.#batcher.add(event);
  }

  #trackSequence(e: ReactorEvent): void {
    if (e.seq <= 0) return;
    const last = this.#last;
    if (last && last.epoch === e.epoch && e.seq > last.seq + 1) {
      const missed = e.seq - last.seq - 1;
      this.#m.gaps.inc();
      this.#m.missed.inc(missed);
      this.#log.error({ epoch: e.epoch, from: last.seq + 1, to: e.seq - 1, missed }, 'sequence gap: events missed');
    } else if (last && last.epoch !== e.epoch) {
      this.#log.info({ previous: last, epoch: e.epoch, seq: e.seq }, 'router epoch changed');
    }
    if (!last || last.epoch !== e.epoch || e.seq > last.seq) this.#last = { epoch: e.epoch, seq: e.seq };
  }

  async #flush(events: ReactorEvent[]): Promise<void> {
    const { inserted, duplicates } = await this.#o.archive.insertEvents(events);
    this.#m.archived.inc(inserted);
    if (duplicates > 0) this.#m.duplicates.inc(duplicates);
    const jobs: HandlerJobData[] = [];
    for (const event of events) {
      for (const handler of this.#o.matcher.match(eventKey(event))) jobs.push({ event, handler });
    }
    if (jobs.length > 0) {
      await this.#o.queue.addBulk(jobs);
      this.#m.enqueued.inc(jobs.length);
    }
    this.#log.debug({ events: events.length, inserted, duplicates, jobs: jobs.length }, 'batch flushed');
  }

  /** Last (epoch, seq) seen. */
  get position(): { epoch: number; seq: number } | undefined {
    return this.#last;
  }

  /** Stop receiving, flush what was received. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#sock.close();
      await this.#loop;
      await this.#batcher.drain();
      this.#log.info({ position: this.#last }, 'subscriber closed');
    })();
    return this.#closing;
  }
}
