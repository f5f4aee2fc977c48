/** First wait between retries of an operation on a store that is down, in ms. */
const FIRST_RETRY_MS = 200;

/**
 * Wait before retry number `attempt` (1 = the first retry) of an operation that failed
 * because a store (MongoDB, Redis) is unreachable: 200 ms, doubling, at most `maxMs`.
 */
export function retryDelay(attempt: number, maxMs = 10_000): number {
  return Math.min(maxMs, FIRST_RETRY_MS * 2 ** Math.min(Math.max(attempt, 1) - 1, 16));
}
