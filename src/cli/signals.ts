import type { Logger } from '../logger.js';

export interface ShutdownOptions {
  log: Logger;
  /** Graceful shutdown work: stop intake, drain, close stores. */
  shutdown: () => Promise<void>;
  /** Hard deadline for the graceful part; default 15000 ms. */
  graceMs?: number;
  /** Called with the exit code when the process should end. */
  exit: (code: number) => void;
}

/**
 * First SIGTERM/SIGINT: graceful shutdown, with an unref'd deadline that forces exit.
 * Second signal: exit at once.
 */
export function handleSignals(options: ShutdownOptions): { shutdown: (reason: string) => void } {
  let stopping = false;
  const begin = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    options.log.info({ reason }, 'shutting down');
    const deadline = setTimeout(() => {
      options.log.error({ graceMs: options.graceMs ?? 15_000 }, 'shutdown deadline passed; forcing exit');
      options.exit(1);
    }, options.graceMs ?? 15_000);
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
        options.exit(sig === 'SIGINT' ? 130 : 143);
        return;
      }
      begin(sig);
    });
  }
  return { shutdown: begin };
}
