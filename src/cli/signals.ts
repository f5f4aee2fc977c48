import type { Logger } from '../logger.js';

export interface ShutdownOptions {
  log: Logger;
  /** Graceful shutdown work: stop intake, drain, close stores. */
  shutdown: () => Promise<void>;
  /** How long the graceful shutdown may take before the exit is forced, in ms; default 15000. */
  deadlineMs?: number;
  /**
   * Called, synchronously, just before a forced exit (second signal or deadline passed):
   * the last chance to stop what must not outlive the process, such as local servers.
   */
  onForcedExit?: () => void;
  /** Called with the exit code when the process should end. */
  exit: (code: number) => void;
}

const DEFAULT_DEADLINE_MS = 15_000;

/**
 * First SIGTERM/SIGINT: graceful shutdown, with an unref'd deadline that forces exit.
 * Second signal: exit at once.
 */
export function handleSignals(options: ShutdownOptions): { shutdown: (reason: string) => void } {
  let stopping = false;
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  const force = (code: number): void => {
    options.onForcedExit?.();
    options.exit(code);
  };
  const begin = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    options.log.info({ reason }, 'shutting down');
    const deadline = setTimeout(() => {
      options.log.error({ deadlineMs }, 'shutdown deadline passed; forcing exit');
      force(1);
    }, deadlineMs);
    deadline.unref();
    options.shutdown().then(
      () => options.exit(0),
      (err: unknown) => {
        options.log.error({ err }, 'shutdown failed');
        options.exit(1);
      },
    );
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      if (stopping) {
        options.log.warn({ signal: sig }, 'second signal; exiting now');
        force(sig === 'SIGINT' ? 130 : 143);
        return;
      }
      begin(sig);
    });
  }
  return { shutdown: begin };
}
