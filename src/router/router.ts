import * as zmq from 'zeromq';
import { Gauge, type Registry } from 'prom-client';
import { EventValidationError, coerceError, TransportError } from '../errors.js';
import { EventStamper } from './stamper.js';
import type { IngestLimits } from '../event/event.js';
import { parseIncoming } from '../event/validate.js';
import type { Logger } from '../logger.js';
import { counter } from '../metrics.js';
import type { RouterSettings } from '../config/settings.js';
import { encodeFrames } from '../wire/framing.js';
import { localCounts, type LocalCount } from './local-count.js';
import { RefusalLog } from './refusals.js';
import { ReplayBuffer } from './replay-buffer.js';
import { parseReplayRequest, REPLAY_MAX_REPLY_BYTES, type ReplayRequest } from '../wire/replay-protocol.js';
import { SerialSender } from './serial-sender.js';
import { TopicKeys } from './topic-keys.js';
import { routerBinds } from '../config/router-binds.js';
import { JOURNAL_QUEUE_HIGH, JournalPipeline } from './journal-pipeline.js';
import type { RedisJournal } from './redis-journal.js';
import { missedRanges } from './journal-missed.js';

/** At close, the PULL socket is read until quiet for this long, but no longer than the max. */
const PULL_DRAIN_IDLE_MS = 100;
const PULL_DRAIN_MAX_MS = 2000;
/** Most PULL messages read before they are published (see #pullLoop). */
const PULL_BATCH = 64;
/** PULL messages read in a row before the event loop gets a turn; zeromq.js's own figure. */
const PULL_YIELD_EVERY = 512;
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']}');

export interface RouterOptions {
  settings: RouterSettings;
  log: Logger;
  registry: Registry;
  /** Start epoch (Unix ms); default now. */
  epoch?: number;
  /**
   * CURVE: every socket is a CURVE server with this secret key (Z85) and a ZAP domain
   * named after the socket, so the process's ZAP handler admits only authorized clients.
   */
  curveSecretKey?: string;
  /**
   * The durable journal (`router.journal: "redis"`): events are in it before they are
   * published or acknowledged, and replays read from it, across restarts. Without it the
   * replay buffer in memory is the journal.
   */
  journal?: RedisJournal;
  /** The router's name, in replay replies (`router.name`). */
  name?: string;
}

/**
 * Messages the REP and replay sockets queue per peer, each way. A REQ client has one
 * request and one reply in flight (2 leaves room for ZeroMQ's I/O thread having taken
 * a reply before the socket hears of it), so this never holds a well-behaved client
 * back. A peer that pipelines requests and never reads (a DEALER) has its extra
 * requests wait in TCP and its replies dropped (REP) or refused (replay), instead of
 * making the router hold ZeroMQ's default of 1,000 replies, each up to an event (REP) or
 * REPLAY_MAX_REPLY_BYTES (replay), until heartbeats drop it.
 */
const REPLY_HWM = 2;

/** What a replay peer that does not read its replies is told instead (see #replayLoop). */
const NOT_READING_REPLY = JSON.stringify({ error: { code: 'not_reading', message: 'your earlier replies are still unread' } });
/** Most replay peers remembered as not reading; past it the list starts again (each costs one more full reply). */
const NOT_READING_MAX = 10_000;

/** Heartbeats on every socket: a peer silent this long is dropped (a dead or stuck client). */
const HEARTBEAT_MS = 10_000;
const HEARTBEAT_TIMEOUT_MS = 30_000;

/** An accepted event: its sequence number, its JSON as published and the frames that carry it. */
interface StampedEvent {
  seq: number;
  body: Buffer;
  frames: (string | Buffer)[];
}

/** Where the router ended up listening (ports resolved when `:0` or `:*` was configured). */
export interface RouterEndpoints {
  pull: string;
  rep: string[];
  pub: string;
  replay: string;
}

/**
 * The router daemon: PULL (feeders, fire-and-forget) and REP (request/reply) in, one PUB
 * stream out. Every accepted event is stamped with id, timestamp, trace id, sequence
 * number and epoch. Bad input is refused with a reason and never stops a loop.
 */
export class Router {
  readonly #settings: RouterSettings;
  readonly #log: Logger;
  readonly #stamper: EventStamper;
  readonly #limits: IngestLimits;
  readonly #pub: zmq.Publisher;
  readonly #pull: zmq.Pull;
  readonly #reps: zmq.Reply[];
  readonly #replaySock: zmq.Router;
  /** Replay peers whose last reply could not be queued (see #replayLoop), by routing id. */
  readonly #notReading = new Set<string>();
  readonly #replay: ReplayBuffer;
  readonly #sender: SerialSender;
  readonly #refusals: RefusalLog;
  readonly #received: Record<'pull' | 'rep', LocalCount>;
  readonly #published: LocalCount;
  readonly #replayRequests;
  readonly #keys = new TopicKeys();
  readonly #journal: RedisJournal | undefined;
  readonly #pipeline: JournalPipeline | undefined;
  readonly #name: string;
  #loops: Promise<void>[] = [];
  /** Messages the PULL loop has read (for the drain at close). */
  #pulled = 0;
  #endpoints: RouterEndpoints | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: RouterOptions) {
    this.#settings = options.settings;
    this.#log = options.log;
    this.#stamper = new EventStamper(options.epoch);
    this.#journal = options.journal;
    this.#pipeline = options.journal
      ? new JournalPipeline(
          options.journal,
          options.log,
          counter(options.registry, 'router_journal_write_failures_total', 'Failed writes to the Redis journal (each retried; intake waits)'),
        )
      : undefined;
    this.#name = options.name ?? 'default';
    this.#limits = { maxBytes: options.settings.maxEventBytes, maxHops: options.settings.maxHops };
    // ZeroMQ itself refuses a frame over twice the limit (it drops that connection), so a
    // client cannot make the router hold more than that per message; a frame between the
    // limit and twice it is read and refused with a reason (too_large), which a client that
    // just missed the limit can act on.
    const maxMessageSize = this.#limits.maxBytes * 2;
    const secure = (domain: string): Partial<zmq.SocketOptions<zmq.Socket>> => ({
      heartbeatInterval: HEARTBEAT_MS,
      heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
      heartbeatTimeToLive: HEARTBEAT_TIMEOUT_MS,
      ...(options.curveSecretKey ? { curveServer: true, curveSecretKey: options.curveSecretKey, zapDomain: domain, zapEnforceDomain: true } : {}),
    });
    const names = routerBinds(options.settings).map((b) => b.socket);
    // sendTimeout 0: every send happens inside send() (see SerialSender); PUB never blocks.
    this.#pub = new zmq.Publisher({
      sendHighWaterMark: options.settings.pubHighWaterMark,
      linger: 2000,
      sendTimeout: 0,
      maxMessageSize: 4096,
      ...secure('PUB'),
    });
    this.#pull = new zmq.Pull({ maxMessageSize, linger: 0, ...secure('PULL') });
    this.#reps = options.settings.rep.map(
      (_, i) => new zmq.Reply({ maxMessageSize, linger: 1000, sendHighWaterMark: REPLY_HWM, receiveHighWaterMark: REPLY_HWM, ...secure(names[1 + i]!) }),
    );
    // sendTimeout 0: a reply that cannot be queued fails at once (see #replayLoop).
    this.#replaySock = new zmq.Router({
      mandatory: true,
      maxMessageSize: 64 * 1024,
      linger: 0,
      sendTimeout: 0,
      sendHighWaterMark: REPLY_HWM,
      receiveHighWaterMark: REPLY_HWM,
      ...secure('replay'),
    });
    const { replayMaxEvents, replayMaxBytes } = options.settings;
    // Allocated now: V8 runs full collections while external memory grows (see ReplayBuffer).
    // With a journal in Redis nothing is kept here.
    const reserve = options.journal ? 0 : Math.min(replayMaxBytes, replayMaxEvents * this.#limits.maxBytes);
    this.#replay = new ReplayBuffer(replayMaxEvents, replayMaxBytes, reserve);
    this.#sender = new SerialSender(this.#pub, (err) => this.#log.error({ err }, 'publish failed'));
    const r = options.registry;
    // Counted per event in plain numbers, added to the counters when they are collected.
    this.#received = localCounts(r, 'router_events_received_total', 'Messages received', ['source'], { pull: { source: 'pull' }, rep: { source: 'rep' } });
    this.#published = localCounts(r, 'router_events_published_total', 'Events published on the PUB socket', [], { all: {} }).all;
    const refused = counter(r, 'router_events_refused_total', 'Messages refused, by reason', ['source', 'reason']);
    this.#refusals = new RefusalLog(this.#log, refused, options.settings.refusalLogIntervalMs);
    const stamper = this.#stamper;
    const replay = this.#replay;
    new Gauge({
      name: 'router_last_seq',
      help: 'Last sequence number published in this epoch',
      registers: [r],
      collect() {
        this.set(stamper.lastSeq);
      },
    });
    const pipeline = this.#pipeline;
    if (pipeline)
      new Gauge({
        name: 'router_journal_pending',
        help: 'Accepted events waiting for the Redis journal before they are published (intake pauses at 4096)',
        registers: [r],
        collect() {
          this.set(pipeline.pending);
        },
      });
    else {
      new Gauge({
        name: 'router_replay_buffer_events',
        help: 'Events held for replay',
        registers: [r],
        collect() {
          this.set(replay.size);
        },
      });
      new Gauge({
        name: 'router_replay_buffer_bytes',
        help: 'Bytes of event JSON held for replay',
        registers: [r],
        collect() {
          this.set(replay.bytes);
        },
      });
      new Gauge({
        name: 'router_replay_buffer_fill_ratio',
        help: 'How full the replay buffer is: the larger of events / router.replay_max_events and bytes / router.replay_max_bytes',
        registers: [r],
        collect() {
          this.set(Math.max(replay.size / replayMaxEvents, replay.bytes / replayMaxBytes));
        },
      });
    }
    this.#replayRequests = counter(r, 'router_replay_requests_total', 'Replay requests served', ['result']);
  }

  get epoch(): number {
    return this.#stamper.epoch;
  }

  get lastSeq(): number {
    return this.#stamper.lastSeq;
  }

  get endpoints(): RouterEndpoints {
    if (!this.#endpoints) throw new TransportError('router is not started');
    return this.#endpoints;
  }

  /** Bind all sockets and start the receive loops. */
  async start(): Promise<RouterEndpoints> {
    const s = this.#settings;
    try {
      await this.#bind(this.#pub, s.pubBind, 'PUB');
      await this.#bind(this.#pull, s.pullBind, 'PULL');
      for (const [i, rep] of this.#reps.entries()) await this.#bind(rep, s.rep[i]!.bind, 'REP');
      await this.#bind(this.#replaySock, s.replayBind, 'replay');
    } catch (err) {
      this.#closeSockets();
      throw err;
    }
    this.#endpoints = {
      pub: this.#pub.lastEndpoint ?? s.pubBind,
      pull: this.#pull.lastEndpoint ?? s.pullBind,
      rep: this.#reps.map((rep, i) => rep.lastEndpoint ?? s.rep[i]!.bind),
      replay: this.#replaySock.lastEndpoint ?? s.replayBind,
    };
    this.#loops = [this.#pullLoop(), ...this.#reps.map((rep, i) => this.#repLoop(rep, s.rep[i]!.namespace, s.rep[i]!.scope)), this.#replayLoop()];
    this.#log.info({ ...this.#endpoints, epoch: this.epoch, framing: s.framing }, 'router listening');
    return this.#endpoints;
  }

  /** Bind `sock`; a failure names the socket and the address. */
  async #bind(sock: zmq.Socket, endpoint: string, what: string): Promise<void> {
    try {
      await sock.bind(endpoint);
    } catch (err) {
      throw new TransportError(`cannot bind the router's ${what} socket to ${endpoint}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Read the PULL socket until it is closed, in batches: the messages ZeroMQ holds (up
   * to PULL_BATCH) are read, then validated, stamped and published together, in one
   * synchronous pass. So sends come in bursts, and ZeroMQ's I/O thread writes several
   * per wake-up; and nothing else (a REP request) can take a sequence number between
   * one of them being stamped and being sent, which keeps the PUB stream in order.
   *
   * While ZeroMQ holds messages they are read with receiveTimeout 0, which skips
   * zeromq.js's readiness check (a getsockopt) on every read; once it holds none
   * (EAGAIN), the next read waits (receiveTimeout -1). receive() is called directly, not
   * through `for await`: zeromq.js's iterator adds an async function, a second promise
   * and a result object to every message. The loop ends as the iterator does: once the
   * socket is closed.
   */
  async #pullLoop(): Promise<void> {
    const ns = this.#settings.pullNamespace;
    const pull = this.#pull;
    const batch: Buffer[][] = [];
    let waiting = true;
    let sinceYield = 0;
    try {
      for (;;) {
        let failure: Error | undefined;
        let closed = false;
        while (batch.length < PULL_BATCH) {
          try {
            batch.push(await pull.receive());
          } catch (err) {
            if (pull.closed) closed = true;
            else if (waiting || (err as { code?: unknown }).code !== 'EAGAIN') failure = coerceError(err);
            else {
              // ZeroMQ holds no more: publish what was read, then wait for the next.
              pull.receiveTimeout = -1;
              waiting = true;
            }
            break;
          }
          if (waiting && !pull.closed) {
            pull.receiveTimeout = 0;
            waiting = false;
          }
        }
        this.#publishPulled(batch, ns);
        // With a journal, events wait for Redis before they are published: stop reading
        // (ZeroMQ holds what arrives, bounded by its high-water mark) while it is behind.
        if (this.#pipeline && this.#pipeline.pending >= JOURNAL_QUEUE_HIGH) await this.#pipeline.flushed();
        if (failure !== undefined) throw failure;
        if (closed || pull.closed) break;
        sinceYield += batch.length;
        batch.length = 0;
        // Reading without waiting never yields to the event loop (timers, the REP and
        // replay sockets); zeromq.js yields after as many reads when it reads for us.
        if (sinceYield >= PULL_YIELD_EVERY) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    } catch (err) {
      if (!this.#closing) this.#log.error({ err }, 'PULL receive loop failed');
    }
  }

  /** Validate, stamp, publish and keep a batch of PULL messages; refuse the bad ones. */
  #publishPulled(batch: readonly Buffer[][], ns: string): void {
    this.#received.pull.n += batch.length;
    this.#pulled += batch.length;
    const now = Date.now();
    for (const frames of batch) {
      const raw = frames.length === 1 ? frames[0]! : undefined;
      try {
        if (!raw) throw new EventValidationError('bad_frames', `expected one frame with the event JSON, got ${frames.length}`);
        const event = this.#stamp(raw, ns, this.#settings.pullScope, now);
        if (this.#pipeline) {
          this.#pipeline.add({ epoch: this.epoch, seq: event.seq, body: event.body }, () => this.#publish(event));
          continue;
        }
        // Fire and forget, as the feeder is: a failed send is logged by the sender. No
        // backpressure is needed here: the send is done when post() returns, and ZeroMQ
        // holds unread messages (bounded by its high-water mark) while this loop works.
        this.#sender.post(event.frames);
        this.#keep(event);
      } catch (err) {
        this.#refuse('pull', err, raw ?? frames[0]);
      }
    }
  }

  async #repLoop(rep: zmq.Reply, ns: string, scope: readonly string[] | undefined): Promise<void> {
    try {
      const received = this.#received.rep;
      for await (const frames of rep) {
        received.n++;
        let reply: string | Buffer;
        const raw = frames.length === 1 ? frames[0]! : undefined;
        try {
          if (!raw) throw new EventValidationError('bad_frames', `expected one frame with the event JSON, got ${frames.length}`);
          const event = this.#stamp(raw, ns, scope);
          if (this.#pipeline) {
            // Journaled, then published; the reply goes once both are done.
            await this.#pipeline.addAndWait({ epoch: this.epoch, seq: event.seq, body: event.body }, () => this.#publish(event));
            reply = event.body;
            try {
              await rep.send(reply);
            } catch (err) {
              if (this.#closing) break;
              this.#log.warn({ err }, 'REP reply failed');
            }
            continue;
          }
          const sent = this.#sender.send(event.frames);
          this.#keep(event);
          // The reply is the event as published, sent once ZeroMQ has taken it. In the
          // replay buffer it is accepted already: should the send fail, subscribers fetch
          // it by replay, so the client must not be told to try again.
          await sent.catch((err: unknown) => this.#log.error({ err: coerceError(err) }, 'publish failed; subscribers will fetch the event by replay'));
          reply = event.body;
        } catch (err) {
          reply = this.#refuse('rep', err, raw ?? frames[0]);
        }
        try {
          await rep.send(reply);
        } catch (err) {
          if (this.#closing) break;
          this.#log.warn({ err }, 'REP reply failed');
        }
      }
    } catch (err) {
      if (!this.#closing) this.#log.error({ err }, 'REP receive loop failed');
    }
  }

  /**
   * Validate and stamp one event; returns it with the frames to publish. On a socket with
   * a namespace scope, an event of another namespace is refused (`forbidden_namespace`).
   */
  #stamp(raw: Uint8Array, ns: string, scope: readonly string[] | undefined, now: number = Date.now()): StampedEvent {
    const incoming = parseIncoming(raw, ns, this.#limits);
    if (scope && !scope.includes(incoming.namespace)) {
      throw new EventValidationError('forbidden_namespace', `namespace "${incoming.namespace}" is not accepted on this socket (it takes ${scope.join(', ')})`);
    }
    const { seq, body } = this.#stamper.stampBytes(incoming, raw, now);
    return { seq, body, frames: encodeFrames(this.#settings.framing, this.#keys.key(incoming), body) };
  }

  /**
   * Keep a published event for replay. Called right after the send, before anything
   * else can run: ZeroMQ has taken the event when send() returns (see SerialSender), and
   * no replay request can be served, nor REP reply sent, in between, so a subscriber
   * that sees a later event can always fetch this one.
   */
  #keep(event: StampedEvent): void {
    this.#replay.append(event.seq, event.body);
    this.#published.n++;
  }

  /** Publish a journaled event (the journal is its replay store: nothing kept in memory). */
  #publish(event: StampedEvent): void {
    this.#sender.post(event.frames);
    this.#published.n++;
  }

  /**
   * Serve the replay socket: a ROUTER speaking REP's envelope (routing id, empty frame,
   * request), so that a peer that stops reading costs next to nothing. A REP socket would
   * build every reply such a peer asks for (up to REPLAY_MAX_REPLY_BYTES each, read from
   * the journal) only to drop it at the high-water mark. Here a reply ZeroMQ cannot queue
   * (mandatory routing: EAGAIN) marks the peer, and its next requests get a short
   * `not_reading` error, until one of those is queued again. A REQ client never sees it:
   * it asks again only once it has read its last reply.
   */
  async #replayLoop(): Promise<void> {
    const sock = this.#replaySock;
    try {
      for await (const frames of sock) {
        const delimiter = frames.findIndex((f, i) => i > 0 && f.length === 0);
        if (delimiter < 0) {
          // No envelope to answer by (REP drops these too).
          this.#replayRequests.inc({ result: 'refused' });
          continue;
        }
        const peer = frames[0]!.toString('hex');
        const body = frames.slice(delimiter + 1);
        let reply: string | Buffer;
        if (this.#notReading.has(peer)) {
          this.#replayRequests.inc({ result: 'not_reading' });
          reply = NOT_READING_REPLY;
        } else reply = await this.#replayAnswer(body);
        try {
          await sock.send([...frames.slice(0, delimiter + 1), reply]);
          this.#notReading.delete(peer);
        } catch (err) {
          if (this.#closing) break;
          const code = (err as { code?: unknown }).code;
          if (code === 'EAGAIN') {
            if (this.#notReading.size >= NOT_READING_MAX) this.#notReading.clear();
            this.#notReading.add(peer);
          } else if (code !== 'EHOSTUNREACH') this.#log.warn({ err }, 'replay reply failed');
        }
      }
    } catch (err) {
      if (!this.#closing) this.#log.error({ err }, 'replay receive loop failed');
    }
  }

  /** The reply to one replay request (its frames after the envelope). */
  async #replayAnswer(body: Buffer[]): Promise<string | Buffer> {
    const req = body.length === 1 ? parseReplayRequest(body[0]!.toString('utf8')) : 'expected one frame';
    if (typeof req === 'string') {
      this.#replayRequests.inc({ result: 'refused' });
      return JSON.stringify({ error: { code: 'bad_request', message: req } });
    }
    if (!this.#journal) return this.#replayReply(req);
    try {
      return await this.#journalReply(this.#journal, req);
    } catch (err) {
      this.#replayRequests.inc({ result: 'failed' });
      this.#log.error({ err: coerceError(err) }, 'journal read failed');
      return JSON.stringify({ error: { code: 'journal_unavailable', message: `the router cannot read its journal: ${coerceError(err).message}` } });
    }
  }

  /** Build the reply by splicing stored JSON, so replayed events are never re-serialised. */
  #replayReply(req: ReplayRequest): string | Buffer {
    const buf = this.#replay;
    const epoch = this.epoch;
    const head = { epoch, first_seq: buf.firstSeq ?? null, last_seq: this.lastSeq, buffered: buf.size, bytes: buf.bytes };
    if (!req.since) {
      this.#replayRequests.inc({ result: 'status' });
      return JSON.stringify({ ...head, events: [], more: false, missed: null, epoch_changed: false });
    }
    const epochChanged = req.since.epoch !== epoch;
    const after = epochChanged ? 0 : req.since.seq;
    const first = buf.firstSeq ?? this.lastSeq + 1;
    const missed = after + 1 < first ? { epoch, from: after + 1, to: first - 1 } : null;
    const events = buf.since(after, req.limit ?? 1000, REPLAY_MAX_REPLY_BYTES);
    const last = events.at(-1)?.seq ?? after;
    const more = last < this.lastSeq;
    this.#replayRequests.inc({ result: missed ? 'missed' : 'ok' });
    if (missed) this.#log.warn({ requested: req.since, missed }, 'replay requested events no longer buffered');
    const meta = JSON.stringify({ ...head, more, missed, epoch_changed: epochChanged });
    const parts: Buffer[] = [Buffer.from(`${meta.slice(0, -1)},"events":[`)];
    events.forEach((e, i) => parts.push(...(i > 0 ? [COMMA, e.body] : [e.body])));
    parts.push(CLOSE);
    return Buffer.concat(parts);
  }

  /**
   * A replay reply from the journal: events after the requested position, crossing into
   * later epochs in the router's order. What the journal no longer holds (trimmed) is named
   * in `missed_ranges`: its first range also in `missed`, a range whose end is unknown (the
   * rest of an older epoch) with `to: null`.
   */
  async #journalReply(journal: RedisJournal, req: ReplayRequest): Promise<string | Buffer> {
    const extent = await journal.extent();
    const head = {
      epoch: this.epoch,
      first_seq: extent.first?.epoch === this.epoch ? extent.first.seq : null,
      last_seq: this.lastSeq,
      buffered: extent.length,
      bytes: null,
      journal: 'redis',
      router: this.#name,
      first: extent.first ?? null,
      last: extent.last ?? null,
    };
    if (!req.since) {
      this.#replayRequests.inc({ result: 'status' });
      return JSON.stringify({ ...head, events: [], more: false, missed: null, missed_ranges: [], epoch_changed: false });
    }
    // A subscriber without a cursor (0, 0) starts with the current epoch, as with the
    // memory journal: the journal's older history is not run again by a new subscriber.
    const fresh = req.since.epoch === 0;
    const { epoch, seq } = fresh ? { epoch: this.epoch, seq: 0 } : req.since;
    const missed = fresh ? [] : missedRanges(extent, { epoch: this.epoch, seq: this.lastSeq }, epoch, seq);
    const read = await journal.since(epoch, seq, req.limit ?? 1000, REPLAY_MAX_REPLY_BYTES);
    this.#replayRequests.inc({ result: missed.length > 0 ? 'missed' : 'ok' });
    if (missed.length > 0) this.#log.warn({ requested: req.since, missed }, 'replay requested events the journal no longer holds');
    const meta = JSON.stringify({ ...head, more: read.more, missed: missed[0] ?? null, missed_ranges: missed, epoch_changed: fresh });
    const parts: Buffer[] = [Buffer.from(`${meta.slice(0, -1)},"events":[`)];
    read.entries.forEach((e, i) => parts.push(...(i > 0 ? [COMMA, e.body] : [e.body])));
    parts.push(CLOSE);
    return Buffer.concat(parts);
  }

  /** Count and log a refusal; returns the error reply for REP clients. */
  #refuse(source: string, err: unknown, raw: Uint8Array | undefined): string {
    if (err instanceof EventValidationError) {
      this.#refusals.refuse(source, err, raw);
      return JSON.stringify({ error: { code: err.reason, message: err.message } });
    }
    const e = coerceError(err);
    this.#log.error({ err: e, source }, 'event could not be published');
    return JSON.stringify({ error: { code: 'internal', message: `router could not publish the event: ${e.message}` } });
  }

  /** Stop intake, publish what was accepted, close the PUB socket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    for (const rep of this.#reps) rep.close();
    // Messages ZeroMQ already holds for the PULL socket (backpressure leaves them there)
    // are read and published before it closes: a close would drop them.
    await this.#quietPull();
    this.#pull.close();
    // Keep serving replays while the last events are journaled and published, then stop.
    await Promise.allSettled(this.#loops.slice(0, -1));
    await this.#pipeline?.flushed();
    await this.#sender.flushed();
    this.#replaySock.close();
    await this.#loops.at(-1);
    this.#pub.close();
    this.#log.info({ lastSeq: this.lastSeq, epoch: this.epoch }, 'router closed');
  }

  /** Wait until the PULL loop has read nothing for PULL_DRAIN_IDLE_MS, at most PULL_DRAIN_MAX_MS. */
  async #quietPull(): Promise<void> {
    const deadline = Date.now() + PULL_DRAIN_MAX_MS;
    let lastPullAt = Date.now();
    let pulled = this.#pulled;
    while (Date.now() < deadline && Date.now() - lastPullAt < PULL_DRAIN_IDLE_MS) {
      await new Promise((r) => setTimeout(r, 20));
      if (this.#pulled !== pulled) {
        pulled = this.#pulled;
        lastPullAt = Date.now();
      }
    }
  }

  #closeSockets(): void {
    for (const s of [this.#pub, this.#pull, this.#replaySock, ...this.#reps]) if (!s.closed) s.close();
  }
}
