/** Small statistics for bench figures. */

/** Median of `xs` (mean of the middle two for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile `p` (0-100) of `sorted`, which must be sorted ascending; NaN when empty. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** p50, p99 and max of `xs`. */
export function latencySummary(xs: readonly number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: percentileSorted(s, 50), p99: percentileSorted(s, 99), max: s.length > 0 ? s[s.length - 1]! : Number.NaN };
}

/** Round to `digits` decimals (for the JSON line). */
export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `12,345` style thousands separators. */
export function fmtInt(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : String(x);
}

/**
 * Throughput of stages that each item goes through one after the other, from each
 * stage's own rate (items/s): 1 / (1/r1 + 1/r2 + ...), the rate when one item's time is
 * the sum of its stages' times.
 */
export function serialRate(rates: readonly number[]): number {
  return 1 / rates.reduce((sum, r) => sum + 1 / r, 0);
}

/** Harmonic mean of rates: the rate of the mean time per item. NaN when empty. */
export function meanRate(rates: readonly number[]): number {
  return rates.length === 0 ? Number.NaN : rates.length / rates.reduce((sum, r) => sum + 1 / r, 0);
}
