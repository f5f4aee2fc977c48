import { Counter, type Registry } from 'prom-client';

/**
 * One label set of a Prometheus counter, counted in a plain number on the hot path and
 * added to the prom-client counter whenever the counter is collected (a scrape, or
 * `metric.get()`), so readers always see every count. `n++` costs an addition; the
 * counter's own `inc()` hashes the labels on every call.
 */
export interface LocalCount {
  /** Counts not yet added to the counter. */
  n: number;
}

/**
 * A counter registered in `registry` whose values are counted through the returned
 * {@link LocalCount}s, one per entry of `series` (label values by label name; `{}` for
 * a counter without labels).
 */
export function localCounts<K extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
  series: Record<K, Record<string, string>>,
): Record<K, LocalCount> {
  const counts = Object.fromEntries(Object.keys(series).map((k) => [k, { n: 0 }])) as Record<K, LocalCount>;
  const pairs = (Object.keys(series) as K[]).map((k) => [counts[k], series[k]] as const);
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const [count, labels] of pairs) {
        // A series appears with its first count, as with inc().
        if (count.n === 0) continue;
        this.inc(labels, count.n);
        count.n = 0;
      }
    },
  });
  return counts;
}
