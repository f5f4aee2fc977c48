/**
 * Throughput and error rate for the console's chart, from successive scrapes of the
 * daemons' Prometheus counters. Pure: the sampler (metrics-sampler.ts) does the I/O.
 *
 * Why counters rather than counting what the console sees on the live stream: handler
 * results are not on the stream at all (so the error rate could not be had from it), and
 * the router's counter counts every event it published, including those the console's
 * own subscription missed (joined late, or dropped at the PUB high-water mark). They are
 * also the numbers Prometheus and the Grafana dashboard in etc/ show.
 */

/** What one round of scrapes found. A field is undefined when its daemon did not answer. */
export interface MetricsSnapshot {
  /** When, in Unix ms. */
  t: number;
  /** `router_events_published_total`. */
  published?: number;
  /** `sub_events_archived_total`. */
  archived?: number;
  /** `worker_handler_runs_total{status="ok"}`. */
  runsOk?: number;
  /** `worker_handler_runs_total` with any other status (`error`, `timeout`). */
  runsFailed?: number;
  /** `queue_jobs` summed over every queue, by state (`failed` is the dead-letter queue). */
  queue?: Record<string, number>;
}

/** Rates over the interval that ends at `t`; null where a scrape is missing. */
export interface RatePoint {
  /** End of the interval, Unix ms. */
  t: number;
  /** Length of the interval in seconds. */
  seconds: number;
  /** Events published per second. */
  published: number | null;
  /** Events archived per second. */
  archived: number | null;
  /** Handler runs per second that ended ok. */
  runsOk: number | null;
  /** Handler runs per second that failed or timed out. */
  runsFailed: number | null;
  /** Failed share of the handler runs in the interval, 0 to 1; null when none ran. */
  errorRate: number | null;
}

/**
 * How much a counter grew between two readings. A counter that went down belongs to a
 * daemon that restarted (counters start again at 0): its whole new value is the growth.
 */
export function counterIncrease(before: number | undefined, after: number | undefined): number | null {
  if (before === undefined || after === undefined) return null;
  return after >= before ? after - before : after;
}

/** The rate of each interval between consecutive snapshots (oldest first). */
export function ratesOf(snapshots: readonly MetricsSnapshot[]): RatePoint[] {
  const out: RatePoint[] = [];
  for (let i = 1; i < snapshots.length; i++) {
    const a = snapshots[i - 1]!;
    const b = snapshots[i]!;
    const seconds = (b.t - a.t) / 1000;
    if (!(seconds > 0)) continue;
    const per = (x: number | null): number | null => (x === null ? null : x / seconds);
    const ok = counterIncrease(a.runsOk, b.runsOk);
    const failed = counterIncrease(a.runsFailed, b.runsFailed);
    const runs = ok === null || failed === null ? null : ok + failed;
    out.push({
      t: b.t,
      seconds,
      published: per(counterIncrease(a.published, b.published)),
      archived: per(counterIncrease(a.archived, b.archived)),
      runsOk: per(ok),
      runsFailed: per(failed),
      errorRate: runs === null || runs === 0 ? null : failed! / runs,
    });
  }
  return out;
}

/** Totals over the points of the last `windowMs` before `now`, as rates per second. */
export interface RateSummary {
  /** Seconds actually covered by points with data. */
  seconds: number;
  published: number | null;
  runs: number | null;
  errorRate: number | null;
}

/** Average rates over the last `windowMs` (by default one minute). */
export function summarize(points: readonly RatePoint[], now: number, windowMs = 60_000): RateSummary {
  let seconds = 0;
  let published = 0;
  let pubSeconds = 0;
  let ok = 0;
  let failed = 0;
  let runSeconds = 0;
  for (const p of points) {
    if (p.t <= now - windowMs || p.t > now) continue;
    seconds += p.seconds;
    if (p.published !== null) {
      published += p.published * p.seconds;
      pubSeconds += p.seconds;
    }
    if (p.runsOk !== null && p.runsFailed !== null) {
      ok += p.runsOk * p.seconds;
      failed += p.runsFailed * p.seconds;
      runSeconds += p.seconds;
    }
  }
  return {
    seconds,
    published: pubSeconds > 0 ? published / pubSeconds : null,
    runs: runSeconds > 0 ? (ok + failed) / runSeconds : null,
    errorRate: ok + failed > 0 ? failed / (ok + failed) : null,
  };
}
