import { setTimeout as sleep } from 'node:timers/promises';

export interface PacedOptions {
  /** Messages per second. */
  rate: number;
  /** Messages to send in all. */
  count: number;
  /** Send message number `i` (0-based). */
  send: (i: number) => Promise<void> | void;
  /** Stop early when this returns true (checked between ticks). */
  stop?: () => boolean;
}

export interface PacedResult {
  sent: number;
  elapsedMs: number;
  /** Largest amount a message went out after its due time, in ms. */
  maxLagMs: number;
}

/**
 * Send `count` messages at a steady `rate`: each message is due at `i / rate` seconds
 * after the start, and whatever is due is sent on each ~1 ms tick, so a slow tick is
 * caught up rather than lowering the rate.
 */
export async function sendPaced(options: PacedOptions): Promise<PacedResult> {
  const start = performance.now();
  let sent = 0;
  let maxLagMs = 0;
  while (sent < options.count) {
    if (options.stop?.()) break;
    const now = performance.now();
    const due = Math.min(options.count, Math.floor(((now - start) * options.rate) / 1000) + 1);
    if (sent < due) maxLagMs = Math.max(maxLagMs, now - start - (sent * 1000) / options.rate);
    while (sent < due) await options.send(sent++);
    if (sent < options.count) {
      const nextAt = start + (sent * 1000) / options.rate;
      await sleep(Math.max(1, nextAt - performance.now()));
    }
  }
  return { sent, elapsedMs: performance.now() - start, maxLagMs };
}
