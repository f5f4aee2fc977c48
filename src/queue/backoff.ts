import type { BackoffStrategy } from 'bullmq';

/** BullMQ backoff type of handler jobs; the worker's `settings.backoffStrategy` implements it. */
export const BACKOFF_TYPE = 'jitter-exp';

/** Longest wait between two attempts, whatever the base delay and attempt: 1 hour. */
export const MAX_BACKOFF_MS = 3_600_000;

/**
 * Delay before the attempt after failed attempt number `attempt` (1 = the first run):
 * `baseMs × 2^(attempt-1) × j` with `j` uniform in [0.5, 1.5), rounded down, at most
 * {@link MAX_BACKOFF_MS}. The jitter spreads out retries of jobs that failed together.
 *
 * @param random - source of [0, 1) numbers; `Math.random` unless a test fixes it
 */
export function backoffDelay(attempt: number, baseMs: number, random: () => number = Math.random): number {
  if (!(baseMs > 0) || !(attempt >= 1)) return 0;
  // Cap the exponent first so a large attempt count cannot overflow to Infinity.
  const exp = Math.min(baseMs * 2 ** Math.min(attempt - 1, 60), MAX_BACKOFF_MS * 2);
  // Rounded down: rounding could reach base × 1.5, outside the jitter's range.
  return Math.min(Math.floor(exp * (0.5 + random())), MAX_BACKOFF_MS);
}

/**
 * BullMQ custom backoff strategy for {@link BACKOFF_TYPE}: BullMQ calls it with the
 * number of the attempt that just failed and the job, whose `opts.backoff.delay` is the
 * base delay in ms. Other types never reach it (jobs are only enqueued with this one);
 * should one appear, it is retried at once.
 */
export const jitterBackoffStrategy: BackoffStrategy = (attemptsMade, type, _err, job) => {
  if (type !== BACKOFF_TYPE) return 0;
  const backoff = job?.opts.backoff;
  const base = typeof backoff === 'object' ? (backoff.delay ?? 0) : (backoff ?? 0);
  return backoffDelay(attemptsMade, base);
};
