import type { Logger } from '../logger.js';
import type { ReactorSettings } from '../config/settings.js';
import type { Daemon } from '../daemons/daemon.js';
import { startRouterDaemon } from '../daemons/router-daemon.js';
import { startSubDaemon } from '../daemons/sub-daemon.js';
import { startWorkerDaemon } from '../daemons/worker-daemon.js';
import { CloserStack } from '../lifecycle/closers.js';
import { handleSignals } from './signals.js';

export type Part = 'router' | 'sub' | 'worker';

const STARTERS: Record<Part, (s: ReactorSettings, log: Logger) => Promise<Daemon>> = {
  router: startRouterDaemon,
  sub: startSubDaemon,
  worker: startWorkerDaemon,
};

/**
 * Start the given parts in order (router, sub, worker), install signal handling, and
 * resolve with the exit code once a signal has shut everything down.
 */
export async function runDaemons(parts: readonly Part[], settings: ReactorSettings, log: Logger, extraClose?: () => Promise<void>): Promise<number> {
  const closers = new CloserStack(log);
  if (extraClose) closers.push('local services', extraClose);
  const started: Daemon[] = [];
  try {
    for (const part of parts) started.push(await STARTERS[part](settings, log));
  } catch (err) {
    for (const d of started.reverse()) closers.push(d.name, () => d.close());
    await closers.close();
    throw err;
  }
  // Close in start order: the router stops intake and flushes first, then the
  // subscriber archives and enqueues what it received, then workers finish their jobs.
  for (const d of [...started].reverse()) closers.push(d.name, () => d.close());
  log.info({ parts, config: settings.configFile }, 'started');
  return new Promise<number>((resolve) => {
    handleSignals({ log, shutdown: () => closers.close(), exit: resolve, graceMs: shutdownDeadlineMs(parts, settings) });
  });
}

/** Default hard deadline for a graceful shutdown, in ms. */
const SHUTDOWN_DEADLINE_MS = 15_000;
/** Time beyond the workers' grace for aborted handlers to die and results to be written. */
const AFTER_GRACE_MS = 5_000;

/**
 * Hard deadline for a graceful shutdown: long enough for workers to use their whole
 * `worker.shutdown_grace` and put aborted jobs back, so none is left to stall.
 */
export function shutdownDeadlineMs(parts: readonly Part[], settings: ReactorSettings): number {
  if (!parts.includes('worker')) return SHUTDOWN_DEADLINE_MS;
  return Math.max(SHUTDOWN_DEADLINE_MS, settings.worker.shutdownGraceMs + AFTER_GRACE_MS);
}
