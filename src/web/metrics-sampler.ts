import type { Logger } from '../logger.js';
import { parsePromText, sumOf, type PromSample } from './prom-text.js';
import { ratesOf, type MetricsSnapshot, type RatePoint } from './rate-series.js';

/** Where each daemon part serves `/metrics` (`http://host:port`); undefined when it cannot be found. */
export type MetricsTargets = Record<'router' | 'sub' | 'worker', string | undefined>;

export interface MetricsSamplerOptions {
  targets: MetricsTargets;
  log: Logger;
  /** Time between scrapes, in ms; default 5000. */
  intervalMs?: number;
  /** Snapshots kept (the chart's width in intervals); default 121, ten minutes at 5 s. */
  keep?: number;
  /** Longest a scrape may take, in ms; default 2000. */
  timeoutMs?: number;
}

/** The chart's data: rates per interval, oldest first, and what could not be scraped. */
export interface RateHistory {
  intervalMs: number;
  /** The span the history covers when full, in ms. */
  windowMs: number;
  points: RatePoint[];
  /** The latest queue counts by state, when the worker answered. */
  queue: Record<string, number> | undefined;
  /** Daemon parts whose metrics the last round could not read, with why. */
  unavailable: { part: string; error: string }[];
}

/**
 * Scrapes the daemons' `/metrics` every `intervalMs` and keeps the last `keep` snapshots
 * in memory, for the console's throughput and error-rate chart (see rate-series.ts for
 * why counters). The history starts empty when the console starts: it is a view of the
 * last minutes, not a store; Prometheus is the place for longer history.
 */
export class MetricsSampler {
  readonly #options: MetricsSamplerOptions;
  readonly #intervalMs: number;
  readonly #keep: number;
  readonly #timeoutMs: number;
  readonly #snapshots: MetricsSnapshot[] = [];
  #unavailable: { part: string; error: string }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  readonly #abort = new AbortController();
  #closing: Promise<void> | undefined;

  /** @throws {RangeError} naming the option when an interval, size or timeout is not positive */
  constructor(options: MetricsSamplerOptions) {
    this.#intervalMs = options.intervalMs ?? 5000;
    this.#keep = options.keep ?? 121;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    if (!(this.#intervalMs > 0)) throw new RangeError(`MetricsSampler: intervalMs must be > 0, got ${this.#intervalMs}`);
    if (!(Number.isInteger(this.#keep) && this.#keep >= 2)) throw new RangeError(`MetricsSampler: keep must be a whole number >= 2, got ${this.#keep}`);
    if (!(this.#timeoutMs > 0)) throw new RangeError(`MetricsSampler: timeoutMs must be > 0, got ${this.#timeoutMs}`);
    this.#options = options;
  }

  /** Take a first snapshot now, then one every interval. */
  start(): void {
    if (this.#timer || this.#closing) return;
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref();
  }

  history(): RateHistory {
    const last = this.#snapshots.at(-1);
    return {
      intervalMs: this.#intervalMs,
      windowMs: this.#intervalMs * (this.#keep - 1),
      points: ratesOf(this.#snapshots),
      queue: last?.queue,
      unavailable: this.#unavailable,
    };
  }

  /** A scrape round now (tests, and the first snapshot). Rounds never overlap. */
  sample(): Promise<void> {
    this.#inFlight ??= this.#round().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  /** Stop scraping; an unfinished scrape is aborted. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      this.#abort.abort();
      await this.#inFlight?.catch(() => undefined);
    })();
    return this.#closing;
  }

  #tick(): void {
    if (this.#inFlight) return; // a slow round is not stacked on
    void this.sample().catch((err: unknown) => this.#options.log.warn({ err }, 'metrics round failed'));
  }

  async #round(): Promise<void> {
    const parts = ['router', 'sub', 'worker'] as const;
    const unavailable: { part: string; error: string }[] = [];
    const [router, sub, worker] = await Promise.all(
      parts.map(async (part) => {
        const url = this.#options.targets[part];
        if (url === undefined) {
          unavailable.push({ part, error: `http.${part} has port 0 (a free port chosen at start): set a fixed address to chart it` });
          return undefined;
        }
        try {
          return await this.#scrape(url);
        } catch (err) {
          unavailable.push({ part, error: (err as Error).message });
          return undefined;
        }
      }),
    );
    if (this.#closing) return;
    const snapshot: MetricsSnapshot = { t: Date.now() };
    // A daemon that answered but has no sample of a labelled counter has not counted one yet.
    if (router) snapshot.published = sumOf(router, 'router_events_published_total') ?? 0;
    if (sub) snapshot.archived = sumOf(sub, 'sub_events_archived_total') ?? 0;
    if (worker) {
      const all = sumOf(worker, 'worker_handler_runs_total') ?? 0;
      const ok = sumOf(worker, 'worker_handler_runs_total', { status: 'ok' }) ?? 0;
      snapshot.runsOk = ok;
      snapshot.runsFailed = all - ok;
      const queue: Record<string, number> = {};
      for (const s of worker) if (s.name === 'queue_jobs' && s.labels['state']) queue[s.labels['state']] = (queue[s.labels['state']] ?? 0) + s.value;
      if (Object.keys(queue).length > 0) snapshot.queue = queue;
    }
    this.#snapshots.push(snapshot);
    if (this.#snapshots.length > this.#keep) this.#snapshots.splice(0, this.#snapshots.length - this.#keep);
    this.#unavailable = unavailable.sort((a, b) => a.part.localeCompare(b.part));
  }

  async #scrape(base: string): Promise<PromSample[]> {
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#timeoutMs)]);
    const res = await fetch(`${base}/metrics`, { signal });
    if (!res.ok) throw new Error(`${base}/metrics answered ${res.status}`);
    return parsePromText(await res.text());
  }
}

/** `http://host:port` of each daemon part's endpoints, as `status` finds them. */
export function metricsTargets(http: Record<'router' | 'sub' | 'worker', { host: string; port: number }>): MetricsTargets {
  const url = ({ host, port }: { host: string; port: number }): string | undefined => {
    if (port === 0) return undefined;
    const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
    return `http://${shown}:${port}`;
  };
  return { router: url(http.router), sub: url(http.sub), worker: url(http.worker) };
}
