import type { Counter, Registry } from 'prom-client';
import { EventValidationError, RouterRefusedError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import type { Logger } from '../logger.js';
import { counter } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import type { Forwarder } from './forwarder.js';

/** One running input of the inputs daemon. */
export interface Input {
  readonly name: string;
  /** Start taking messages. Rejects only on what retrying cannot fix (a port in use, an unsafe secret file); a broker that is down is retried in the background. */
  start(): Promise<void>;
  /** For `/readyz`: throws (or rejects) saying why the input cannot take messages now. */
  ready(): void | Promise<void>;
  /** Stop taking messages, give those being forwarded a moment, then let go of the rest unacknowledged. Idempotent. */
  close(): Promise<void>;
}

/** The counters every input shares, labelled with its name. */
export class InputMetrics {
  readonly received: Counter<'input'>;
  readonly forwarded: Counter<'input'>;
  readonly refused: Counter<'input' | 'reason'>;

  constructor(registry: Registry) {
    this.received = counter(registry, 'inputs_events_received_total', 'Messages an input took from its source', ['input']);
    this.forwarded = counter(registry, 'inputs_events_forwarded_total', 'Events the router accepted from an input', ['input']);
    this.refused = counter(
      registry,
      'inputs_events_refused_total',
      "Messages an input refused, by reason: a router refusal code, or the input's own (bad_signature, unauthorized, too_large...)",
      ['input', 'reason'],
    );
  }
}

/** What an input gets from the daemon. */
export interface InputContext {
  name: string;
  /** Namespace of its events. */
  namespace: string;
  settings: ReactorSettings;
  log: Logger;
  /** Sends events to the router, counted (see {@link InputPipe}). */
  pipe: InputPipe;
}

/** Why an event was not accepted, as counted and logged: a refusal code. */
export function refusalReason(err: unknown): string | undefined {
  if (err instanceof EventValidationError) return err.reason;
  if (err instanceof RouterRefusedError) return err.reason;
  return undefined;
}

/**
 * An input's way to the router: counts what it received, forwarded and refused (by
 * reason), and logs refusals with the input's name (at most one line per reason every
 * 5 s; all are counted).
 */
export class InputPipe {
  readonly #name: string;
  readonly #namespace: string;
  readonly #forwarder: Forwarder;
  readonly #metrics: InputMetrics;
  readonly #log: Logger;
  readonly #lastLogged = new Map<string, number>();

  constructor(name: string, namespace: string, forwarder: Forwarder, metrics: InputMetrics, log: Logger) {
    this.#name = name;
    this.#namespace = namespace;
    this.#forwarder = forwarder;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** Count one message taken from the source. */
  received(): void {
    this.#metrics.received.inc({ input: this.#name });
  }

  /** Count (and log, rate-limited) a message refused for `reason`. */
  refused(reason: string, message: string, fields: Record<string, unknown> = {}): void {
    this.#metrics.refused.inc({ input: this.#name, reason });
    const now = Date.now();
    if (now - (this.#lastLogged.get(reason) ?? 0) >= 5000) {
      this.#lastLogged.set(reason, now);
      this.#log.warn({ reason, error: message, ...fields }, 'message refused');
    }
  }

  /**
   * Forward one event; resolves with it as published. Refusals are counted here and
   * rethrown (see {@link refusalReason}); a RouterUnavailableError is not a refusal.
   */
  async forward(fields: Record<string, unknown>, options: { signal?: AbortSignal; deadlineMs?: number } = {}): Promise<ReactorEvent> {
    try {
      const event = await this.#forwarder.send(fields, { namespace: this.#namespace, ...options });
      this.#metrics.forwarded.inc({ input: this.#name });
      return event;
    } catch (err) {
      const reason = refusalReason(err);
      if (reason !== undefined) this.refused(reason, (err as Error).message);
      throw err;
    }
  }

  /** True while the router is not answering. */
  get routerDown(): boolean {
    return this.#forwarder.routerDown;
  }
}

/** Wait `ms`, or less if `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
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
