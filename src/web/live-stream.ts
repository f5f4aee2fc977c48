import * as zmq from 'zeromq';
import { eventKey } from '../event/event.js';
import { parsePublished } from '../event/validate.js';
import type { Logger } from '../logger.js';
import { bodyOf } from '../wire/framing.js';
import { curveClientOptions, type CurveClientKeys } from '../wire/curve.js';

/** An event as the console's live view shows it: its fields, the payload cut short. */
export interface LiveEvent {
  /** The console's own count of events seen, from 1: the SSE event id, to resume from. */
  n: number;
  id: string;
  key: string;
  /** ISO time of the event's `timestamp`. */
  time: string;
  seq: number;
  epoch: number;
  trace_id: string;
  parent_event?: string;
  /** The payload's JSON, at most {@link PREVIEW_CHARS} characters. */
  payload: string;
  /** True when `payload` was cut. */
  truncated: boolean;
}

export interface LiveStreamOptions {
  /** The routers' PUB endpoints (`settings.sub.routers`), or one. */
  publisherUri: string | readonly string[];
  /** CURVE keys when the router requires them. */
  curve?: CurveClientKeys | undefined;
  log: Logger;
  /** Recent events kept for pages that connect late or reconnect; default 200. */
  keep?: number;
}

/** Characters of payload JSON kept per live event. */
export const PREVIEW_CHARS = 300;

/**
 * The router's PUB stream, for the console's live view: one SUB socket and one receive
 * loop, whatever the number of pages watching. Keeps the last `keep` events so a page can
 * ask for what it missed since the event it saw last (`since(n)`), as an SSE client does
 * with `Last-Event-ID` after a reconnect. Like any PUB subscriber it sees only what is
 * published after it joined, and nothing the router drops at its high-water mark: the
 * live view is a view, the archive is the record.
 */
export class LiveStream {
  readonly #options: LiveStreamOptions;
  readonly #keep: number;
  readonly #recent: LiveEvent[] = [];
  readonly #listeners = new Set<(e: LiveEvent) => void>();
  #sock: zmq.Subscriber | undefined;
  #loop: Promise<void> | undefined;
  #count = 0;
  #closing: Promise<void> | undefined;

  /** @throws {RangeError} when `keep` is not a positive whole number */
  constructor(options: LiveStreamOptions) {
    this.#keep = options.keep ?? 200;
    if (!(Number.isInteger(this.#keep) && this.#keep > 0)) throw new RangeError(`LiveStream: keep must be a whole number > 0, got ${this.#keep}`);
    this.#options = options;
  }

  /** Connect and start receiving (ZeroMQ connects in the background; nothing to wait for). */
  start(): void {
    if (this.#sock || this.#closing) return;
    const sock = new zmq.Subscriber({ linger: 0, ...curveClientOptions(this.#options.curve) });
    for (const uri of typeof this.#options.publisherUri === 'string' ? [this.#options.publisherUri] : this.#options.publisherUri) sock.connect(uri);
    // Every key, in either framing: the page filters what it shows.
    sock.subscribe('');
    this.#sock = sock;
    this.#loop = this.#receive(sock);
  }

  /** The number of the last event seen (0 before the first). */
  get last(): number {
    return this.#count;
  }

  /** The kept events after number `n`, oldest first. */
  since(n: number): LiveEvent[] {
    return this.#recent.filter((e) => e.n > n);
  }

  /** Call `listener` with each event from now on; returns the function that stops it. */
  subscribe(listener: (e: LiveEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Close the socket; the receive loop ends. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#listeners.clear();
      this.#sock?.close();
      await this.#loop;
    })();
    return this.#closing;
  }

  async #receive(sock: zmq.Subscriber): Promise<void> {
    const log = this.#options.log;
    log.info({ uri: this.#options.publisherUri }, 'following the live stream');
    try {
      for await (const frames of sock) {
        const body = bodyOf(frames);
        if (!body) continue;
        let live: LiveEvent;
        try {
          live = this.#describe(body.toString('utf8'));
        } catch (err) {
          log.debug({ err }, 'unreadable event on the stream; skipped');
          continue;
        }
        this.#recent.push(live);
        if (this.#recent.length > this.#keep) this.#recent.shift();
        for (const listener of this.#listeners) {
          try {
            listener(live);
          } catch (err) {
            log.warn({ err }, 'live stream listener failed');
          }
        }
      }
    } catch (err) {
      if (!sock.closed) log.error({ err }, 'live stream receive loop stopped');
    }
  }

  #describe(text: string): LiveEvent {
    const e = parsePublished(text);
    const json = JSON.stringify(e.payload) ?? 'null';
    return {
      n: ++this.#count,
      id: e.id,
      key: eventKey(e),
      time: new Date(e.timestamp * 1000).toISOString(),
      seq: e.seq,
      epoch: e.epoch,
      trace_id: e.trace_id,
      ...(e.parent_event === undefined ? {} : { parent_event: e.parent_event }),
      payload: json.length > PREVIEW_CHARS ? json.slice(0, PREVIEW_CHARS) : json,
      truncated: json.length > PREVIEW_CHARS,
    };
  }
}
