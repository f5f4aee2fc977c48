import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError } from '../errors.js';

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many milliseconds (> 0), counted from the call. */
  timeoutMs: number;
  /** Pause between checks, in milliseconds (> 0). */
  intervalMs: number;
  /** What is awaited, for the error message, e.g. `redis on 127.0.0.1:6379`. */
  what: string;
  /** Stop waiting at once when aborted (e.g. the awaited process exited); its reason becomes the cause. */
  signal?: AbortSignal;
}

/**
 * Poll `check` until it resolves `true`, with a deadline.
 *
 * A check that resolves `false` or throws counts as "not yet"; the last error thrown is kept
 * as the `cause` of the timeout error. A check that hangs past the deadline does not keep
 * `waitFor` waiting.
 *
 * @throws {ServiceError} naming `what` on timeout or when `signal` aborts
 * @throws {RangeError} when `timeoutMs` or `intervalMs` is not a positive number
 */
export async function waitFor(check: () => Promise<boolean>, options: WaitForOptions): Promise<void> {
  const { timeoutMs, intervalMs, what, signal } = options;
  if (!(timeoutMs > 0)) throw new RangeError(`waitFor: timeoutMs must be > 0, got ${timeoutMs}`);
  if (!(intervalMs > 0)) throw new RangeError(`waitFor: intervalMs must be > 0, got ${intervalMs}`);

  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;

  for (;;) {
    throwIfAborted(signal, what);
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timeoutError(what, timeoutMs, lastError);

    const outcome = await raceDeadline(check, remaining, signal);
    if (outcome.kind === 'done') {
      if (outcome.value) return;
      lastError = undefined;
    } else if (outcome.kind === 'failed') {
      lastError = outcome.error;
    } else if (outcome.kind === 'aborted') {
      throwIfAborted(signal, what);
    } else {
      throw timeoutError(what, timeoutMs, lastError);
    }

    const left = deadline - Date.now();
    if (left <= 0) throw timeoutError(what, timeoutMs, lastError);
    try {
      await sleep(Math.min(intervalMs, left), undefined, signal ? { signal } : {});
    } catch {
      throwIfAborted(signal, what);
    }
  }
}

type Outcome = { kind: 'done'; value: boolean } | { kind: 'failed'; error: unknown } | { kind: 'deadline' } | { kind: 'aborted' };

/** Run one check, but settle no later than `ms` from now or when `signal` aborts. */
async function raceDeadline(check: () => Promise<boolean>, ms: number, signal: AbortSignal | undefined): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stoppers = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'deadline' }), ms);
    if (signal) {
      onAbort = () => resolve({ kind: 'aborted' });
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  const attempt = (async (): Promise<Outcome> => {
    try {
      return { kind: 'done', value: await check() };
    } catch (error) {
      return { kind: 'failed', error };
    }
  })();
  try {
    return await Promise.race([attempt, stoppers]);
  } finally {
    clearTimeout(timer);
    if (signal && onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  const detail = reason instanceof Error ? `: ${reason.message}` : '';
  throw new ServiceError(`gave up waiting for ${what}${detail}`, { cause: reason });
}

function timeoutError(what: string, timeoutMs: number, lastError: unknown): ServiceError {
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  return new ServiceError(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`, { cause: lastError });
}
