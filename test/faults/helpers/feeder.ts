import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import { splitEndpoints } from '../../../src/wire/endpoints.js';
import { RouterClient } from '../../../src/wire/router-client.js';
import { runBin } from '../../helpers/bins.js';
import { EVENT_TYPE, SHELL_EVENT_TYPE } from './stack.js';

export type Via = 'req' | 'push' | 'cli' | 'dealer';

/** One event the feeder fired, and what the router said (REQ) or whether it was handed to ZeroMQ (PUSH). */
export interface Fired {
  id: string;
  eventType: string;
  via: Via;
  /** REQ/cli: the router replied with the published event. PUSH, DEALER (replies never read): handed to the socket. */
  acked: boolean;
  /** When it was handed over (ms since the epoch). */
  at: number;
  error?: string;
  /**
   * Fired only to measure what happens to it (e.g. PUSH while the router is down, which
   * ZeroMQ may lose): reported apart under this group name, never counted as sent or lost.
   */
  measured?: string;
}

/** How {@link Feeder.pushMeasured} sends. */
export interface MeasuredPushOptions {
  /** Reported under this name. */
  group: string;
  /** Events a second; default all at once. */
  ratePerSec?: number;
  /** Stop early once this returns true. */
  until?: () => boolean;
}

export interface FeederOptions {
  /** Event ids are `<prefix>-<n>`. */
  prefix: string;
  total: number;
  ratePerSec: number;
  /** REP endpoint; several comma-separated: each REQ client fails over between them. */
  reqUri: string;
  /** PULL endpoint; several comma-separated: the PUSH sockets connect to each (ZeroMQ balances). */
  pullUri: string;
  /** REQ clients sending in parallel; default 4. */
  reqClients?: number;
  /** Every how many events one goes by PUSH (2 = half); 0 = REQ only. Default 2. */
  pushEvery?: number;
  /** Every how many events one is `fault.shell` (runs the shell handler too). Default 50. */
  shellEvery?: number;
  /** Per-try REQ timeout; default 2000 ms. */
  reqTimeoutMs?: number;
  /** REQ retries after a timeout, same id; default 60. */
  reqRetries?: number;
  /** Pad every payload with a string of this many bytes; default 0. */
  padBytes?: number;
}

/**
 * Fires a known set of events at a steady rate, mixed REQ (several RouterClients in
 * parallel, retrying with the same id) and PUSH (one socket), and remembers every one.
 * PUSH can be paused: its events then go by REQ, for windows where PUSH could be lost.
 */
export class Feeder {
  readonly fired = new Map<string, Fired>();
  readonly #o: Required<FeederOptions>;
  readonly #clients: RouterClient[];
  readonly #push: zmq.Push;
  readonly #reqQueue: { id: string; eventType: string }[] = [];
  readonly #pushQueue: { id: string; eventType: string }[] = [];
  /** Sockets of measured PUSH events, closed (lingering) with the feeder. */
  readonly #measuredSockets: zmq.Push[] = [];
  #wake: (() => void)[] = [];
  #dispatched = 0;
  #pushPaused = false;
  #pushBusy = false;
  readonly #pad: { pad?: string };
  #done: Promise<void> | undefined;
  #stopped = false;

  constructor(options: FeederOptions) {
    this.#o = { reqClients: 4, pushEvery: 2, shellEvery: 50, reqTimeoutMs: 2000, reqRetries: 60, padBytes: 0, ...options };
    this.#pad = this.#o.padBytes > 0 ? { pad: 'x'.repeat(this.#o.padBytes) } : {};
    this.#clients = Array.from(
      { length: this.#o.reqClients },
      () => new RouterClient({ uri: this.#o.reqUri, timeoutMs: this.#o.reqTimeoutMs, retries: this.#o.reqRetries }),
    );
    this.#push = new zmq.Push({ linger: 10_000 });
    for (const uri of splitEndpoints(this.#o.pullUri)) this.#push.connect(uri);
  }

  /** Events handed to a socket so far. */
  get dispatched(): number {
    return this.#dispatched;
  }

  /** Send PUSH-bound events by REQ until {@link resumePush}. */
  pausePush(): void {
    this.#pushPaused = true;
  }

  resumePush(): void {
    this.#pushPaused = false;
  }

  /** Resolves once every PUSH-bound event dispatched so far has been handed to ZeroMQ. */
  async pushIdle(): Promise<void> {
    while (this.#pushQueue.length > 0 || this.#pushBusy) await sleep(10);
  }

  /**
   * Send up to `count` events by PUSH on a socket of their own, as measured events (see
   * {@link Fired.measured}), ids `<prefix>-<group>-<n>`. Resolves once ZeroMQ has taken
   * them all.
   */
  async pushMeasured(count: number, o: MeasuredPushOptions): Promise<void> {
    const sock = new zmq.Push({ linger: 30_000 });
    for (const uri of splitEndpoints(this.#o.pullUri)) sock.connect(uri);
    const t0 = Date.now();
    try {
      for (let i = 0; i < count && !o.until?.(); i++) {
        if (o.ratePerSec) {
          const wait = t0 + (i * 1000) / o.ratePerSec - Date.now();
          if (wait > 0) await sleep(wait);
        }
        const id = `${this.#o.prefix}-${o.group}-${i}`;
        const fired: Fired = { id, eventType: EVENT_TYPE, via: 'push', acked: false, at: Date.now(), measured: o.group };
        this.fired.set(id, fired);
        await sock.send(JSON.stringify({ id, event_type: EVENT_TYPE, payload: { via: 'push', measured: true } }));
        fired.acked = true;
      }
    } finally {
      this.#measuredSockets.push(sock);
    }
  }

  /** Start firing; resolves once every event was answered (REQ) or handed to ZeroMQ (PUSH). */
  run(): Promise<void> {
    this.#done ??= (async () => {
      const loops = [...this.#clients.map((c) => this.#reqLoop(c)), this.#pushLoop()];
      await this.#dispatch();
      this.#stopped = true;
      this.#notify();
      await Promise.all(loops);
    })();
    return this.#done;
  }

  /** Resolves once `n` events have been dispatched. */
  async waitDispatched(n: number): Promise<void> {
    while (this.#dispatched < n) await sleep(20);
  }

  /**
   * Fire `ids` with real `bin/fire-event --retries` processes (REQ, `--timeout` 1 s),
   * `parallel` at a time. Resolves with the exit codes.
   */
  async fireCli(ids: string[], retries: number, parallel = 2): Promise<(number | string)[]> {
    const codes: (number | string)[] = [];
    const queue = [...ids];
    const one = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const fired: Fired = { id, eventType: EVENT_TYPE, via: 'cli', acked: false, at: Date.now() };
        this.fired.set(id, fired);
        const r = await runBin('fire-event', [
          '-u',
          this.#o.reqUri,
          '-e',
          EVENT_TYPE,
          '--id',
          id,
          '--timeout',
          '1',
          '--retries',
          String(retries),
          '-d',
          '{"via":"cli"}',
        ]);
        fired.acked = r.code === 0;
        if (r.code !== 0) fired.error = `exit ${r.code}: ${r.stderr.trim()}`;
        codes.push(r.code);
      }
    };
    await Promise.all(Array.from({ length: parallel }, one));
    return codes;
  }

  /** Fire one event by REQ now, with this payload; recorded like the others. */
  async fireOne(id: string, payload: Record<string, unknown>): Promise<void> {
    const fired: Fired = { id, eventType: EVENT_TYPE, via: 'req', acked: false, at: Date.now() };
    this.fired.set(id, fired);
    try {
      await this.#clients[0]!.send({ id, event_type: EVENT_TYPE, payload });
      fired.acked = true;
    } catch (err) {
      fired.error = (err as Error).message;
    }
  }

  close(): void {
    for (const c of this.#clients) c.close();
    for (const sock of [this.#push, ...this.#measuredSockets]) sock.close();
  }

  async #dispatch(): Promise<void> {
    const { total, ratePerSec, pushEvery, shellEvery, prefix } = this.#o;
    const t0 = Date.now();
    for (let i = 0; i < total;) {
      const due = Math.min(total, Math.floor(((Date.now() - t0) * ratePerSec) / 1000) + 1);
      for (; i < due; i++) {
        const item = { id: `${prefix}-${i}`, eventType: i % shellEvery === 0 ? SHELL_EVENT_TYPE : EVENT_TYPE };
        const push = pushEvery > 0 && i % pushEvery === 1 && !this.#pushPaused;
        (push ? this.#pushQueue : this.#reqQueue).push(item);
        this.#dispatched++;
      }
      this.#notify();
      if (i < total) await sleep(10);
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = [];
    for (const w of wake) w();
  }

  async #next(queue: { id: string; eventType: string }[]): Promise<{ id: string; eventType: string } | undefined> {
    for (;;) {
      const item = queue.shift();
      if (item) return item;
      if (this.#stopped) return undefined;
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  async #reqLoop(client: RouterClient): Promise<void> {
    for (let item = await this.#next(this.#reqQueue); item; item = await this.#next(this.#reqQueue)) {
      const fired: Fired = { id: item.id, eventType: item.eventType, via: 'req', acked: false, at: Date.now() };
      this.fired.set(item.id, fired);
      try {
        await client.send({ id: item.id, event_type: item.eventType, payload: { via: 'req', ...this.#pad } });
        fired.acked = true;
      } catch (err) {
        fired.error = (err as Error).message;
      }
    }
  }

  async #pushLoop(): Promise<void> {
    for (let item = await this.#next(this.#pushQueue); item; item = await this.#next(this.#pushQueue)) {
      const fired: Fired = { id: item.id, eventType: item.eventType, via: 'push', acked: false, at: Date.now() };
      this.fired.set(item.id, fired);
      this.#pushBusy = true;
      try {
        await this.#push.send(JSON.stringify({ id: item.id, event_type: item.eventType, payload: { via: 'push', ...this.#pad } }));
        fired.acked = true;
      } catch (err) {
        fired.error = (err as Error).message;
      } finally {
        this.#pushBusy = false;
      }
    }
  }
}
