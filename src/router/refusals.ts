import type { Counter } from 'prom-client';
import type { Logger } from '../logger.js';
import type { EventValidationError } from '../errors.js';

/**
 * Counts every refused message and logs it, at most once per reason and source per
 * interval; the log line carries how many were suppressed since the last one.
 */
export class RefusalLog {
  readonly #log: Logger;
  readonly #counter: Counter<'source' | 'reason'>;
  readonly #intervalMs: number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(log: Logger, counter: Counter<'source' | 'reason'>, intervalMs: number) {
    this.#log = log;
    this.#counter = counter;
    this.#intervalMs = intervalMs;
  }

  refuse(source: string, err: EventValidationError, raw: Uint8Array | undefined, now: number = Date.now()): void {
    this.#counter.inc({ source, reason: err.reason });
    const k = `${source}\0${err.reason}`;
    const prev = this.#last.get(k);
    if (prev && now - prev.at < this.#intervalMs) {
      prev.suppressed++;
      return;
    }
    this.#last.set(k, { at: now, suppressed: 0 });
    this.#log.warn(
      {
        source,
        reason: err.reason,
        detail: err.message,
        bytes: raw?.byteLength,
        sample: raw ? Buffer.from(raw.subarray(0, 120)).toString('utf8') : undefined,
        suppressed: prev?.suppressed ?? 0,
      },
      'event refused',
    );
  }
}
