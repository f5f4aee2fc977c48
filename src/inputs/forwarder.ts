import { ulid } from 'ulid';
import { EventValidationError, RouterRefusedError, TransportError, coerceError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import { validateFields } from '../event/validate.js';
import type { Logger } from '../logger.js';
import { retryDelay } from '../lifecycle/retry-delay.js';
import type { CurveClientKeys } from '../wire/curve.js';
import { RouterClient } from '../wire/router-client.js';

/** The router did not answer before the caller's deadline, or the forwarder closed: the event may not be accepted. */
export class RouterUnavailableError extends TransportError {}

export interface ForwarderOptions {
  /** The router's REP endpoint. */
  uri: string;
  /** How long each try waits for the reply, in ms. */
  timeoutMs: number;
  /** Largest event accepted, in bytes (the router's `router.max_event_bytes`). */
  maxEventBytes: number;
  curve?: CurveClientKeys | undefined;
  /** REQ sockets used side by side (each carries one request at a time); default 4. */
  sockets?: number;
  /** Longest wait between tries while the router is down, in ms; default 5000. */
  maxRetryDelayMs?: number;
  log: Logger;
}

/** Options of one {@link Forwarder.send}. */
export interface SendOptions {
  /** Default namespace for an event without one. */
  namespace: string;
  /** Stop trying when aborted (the input is closing): rejects with RouterUnavailableError. */
  signal?: AbortSignal;
  /** Stop trying after this many ms (HTTP answers 503 then); default: try until the router answers or `signal` aborts. */
  deadlineMs?: number;
}

/**
 * Sends the inputs' events to the router's REP socket and resolves with the event as
 * published: a message is acknowledged to its source only once this resolves.
 *
 * An event without an `id` gets one (a ULID) before its first try, so a try that timed
 * out and is sent again is the same event (the archive keeps one). While the router does
 * not answer, each send keeps trying (with a growing wait, at most `maxRetryDelayMs`)
 * until it answers, the caller's deadline passes or its signal aborts: nothing is dropped,
 * and since the inputs await their sends, they stop taking new messages meanwhile. An
 * event the router refuses (or that would be refused: checked here first, with the same
 * rules) rejects with the reason, never retried.
 */
export class Forwarder {
  readonly #options: ForwarderOptions;
  readonly #clients: { client: RouterClient; busy: number }[];
  readonly #closing = new AbortController();
  #lastFailure: { at: number; since: number; error: string } | undefined;
  #lastSuccessAt = 0;

  constructor(options: ForwarderOptions) {
    this.#options = options;
    this.#clients = Array.from({ length: options.sockets ?? 4 }, () => ({
      client: new RouterClient({ uri: options.uri, timeoutMs: options.timeoutMs, curve: options.curve }),
      busy: 0,
    }));
  }

  /**
   * Check `fields` as the router would, give it an id and its default namespace, and send it.
   *
   * @throws {EventValidationError} when the event would be refused (reason in `reason`)
   * @throws {RouterRefusedError} when the router refused it
   * @throws {RouterUnavailableError} when the deadline passed or the signal aborted first
   */
  async send(fields: Record<string, unknown>, options: SendOptions): Promise<ReactorEvent> {
    const event = Object.hasOwn(fields, 'id') ? fields : { id: ulid(), ...fields };
    validateFields(event, '', options.namespace);
    if (!Object.hasOwn(event, 'namespace')) event['namespace'] = options.namespace;
    const text = JSON.stringify(event);
    const bytes = Buffer.byteLength(text);
    if (bytes > this.#options.maxEventBytes)
      throw new EventValidationError('too_large', `event is ${bytes} bytes; the limit is ${this.#options.maxEventBytes} bytes`);
    const signals = [this.#closing.signal, ...(options.signal ? [options.signal] : [])];
    if (options.deadlineMs !== undefined) signals.push(AbortSignal.timeout(options.deadlineMs));
    const stop = AbortSignal.any(signals);
    for (let attempt = 1; ; attempt++) {
      if (stop.aborted) throw this.#unavailable(options.deadlineMs);
      const slot = this.#pick();
      slot.busy++;
      try {
        const published = await raceAbort(slot.client.send(text), stop);
        this.#lastSuccessAt = Date.now();
        if (this.#lastFailure)
          this.#options.log.info({ uri: this.#options.uri, downSince: new Date(this.#lastFailure.since).toISOString() }, 'router answering again');
        this.#lastFailure = undefined;
        return published;
      } catch (err) {
        if (err instanceof RouterRefusedError) throw err;
        if (stop.aborted) throw this.#unavailable(options.deadlineMs);
        const error = coerceError(err).message;
        if (!this.#lastFailure) this.#options.log.warn({ err: error, uri: this.#options.uri }, 'router not answering; holding events until it does');
        this.#lastFailure = { at: Date.now(), since: this.#lastFailure?.since ?? Date.now(), error };
      } finally {
        slot.busy--;
      }
      await sleep(retryDelay(attempt, this.#options.maxRetryDelayMs ?? 5000), stop);
    }
  }

  /** For `/readyz`: throws while the last try failed (the router is not answering). */
  check(): void {
    const f = this.#lastFailure;
    if (f && f.at > this.#lastSuccessAt)
      throw new TransportError(`router at ${this.#options.uri} not answering since ${new Date(f.at).toISOString()}: ${f.error}`);
  }

  /** True while the router is taken as down (its last try failed). */
  get routerDown(): boolean {
    return this.#lastFailure !== undefined;
  }

  /** Stop every send in progress (they reject with RouterUnavailableError) and close the sockets. Idempotent. */
  close(): void {
    this.#closing.abort();
    for (const c of this.#clients) c.client.close();
  }

  #pick(): { client: RouterClient; busy: number } {
    let best = this.#clients[0]!;
    for (const c of this.#clients) if (c.busy < best.busy) best = c;
    return best;
  }

  #unavailable(deadlineMs: number | undefined): RouterUnavailableError {
    if (this.#closing.signal.aborted) return new RouterUnavailableError('the inputs daemon is shutting down; the event was not forwarded');
    const why = this.#lastFailure ? `: ${this.#lastFailure.error}` : '';
    return new RouterUnavailableError(
      deadlineMs === undefined ? `forwarding stopped before the router answered${why}` : `router did not answer within ${deadlineMs} ms${why}`,
    );
  }
}

/** `p`, or a rejection as soon as `signal` aborts (the request goes on, its answer is dropped). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new RouterUnavailableError('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
