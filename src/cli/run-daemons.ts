import type { Logger } from '../logger.js';
import type { ReactorSettings } from '../config/settings.js';
import { startDaemons, type Part, type RunningDaemons } from '../daemons/start-daemons.js';
import type { CloserStack } from '../lifecycle/closers.js';
import { handleSignals } from './signals.js';

export type { Part } from '../daemons/start-daemons.js';

/** Options for {@link runDaemons}. */
export interface RunDaemonsOptions {
  /** Closers already holding what the daemons run on (local servers); they close last. */
  closers?: CloserStack;
  /** See {@link ShutdownOptions.onForcedExit}. */
  onForcedExit?: () => void;
}

/**
 * Start the given parts, install signal handling, and resolve with the exit code once a
 * signal has shut everything down.
 */
export async function runDaemons(parts: readonly Part[], settings: ReactorSettings, log: Logger, options: RunDaemonsOptions = {}): Promise<number> {
  // Signals are handled from the start: a stop asked while the daemons start (systemd
  // stopping a unit it just started) waits for them to be up, then shuts them down.
  const starting = startDaemons(parts, settings, log, options.closers);
  let running: RunningDaemons | undefined;
  // SIGHUP: reload what can be reloaded (the handler table), as daemons do by convention.
  process.on('SIGHUP', () => {
    if (!running) return;
    log.info({ signal: 'SIGHUP' }, 'reloading the handler table');
    for (const d of running.daemons) d.reload?.();
  });
  return new Promise<number>((resolve, reject) => {
    handleSignals({
      log,
      // A start that failed has closed what it opened; its error is the exit (reject below).
      shutdown: () =>
        starting.then(
          (r) => r.close(),
          () => undefined,
        ),
      exit: resolve,
      deadlineMs: shutdownDeadlineMs(parts, settings),
      ...(options.onForcedExit ? { onForcedExit: options.onForcedExit } : {}),
    });
    starting.then((r) => {
      running = r;
    }, reject);
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
