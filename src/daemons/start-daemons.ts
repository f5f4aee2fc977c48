import type { Logger } from '../logger.js';
import type { ReactorSettings } from '../config/settings.js';
import { CloserStack } from '../lifecycle/closers.js';
import type { Daemon } from './daemon.js';

/** The daemon parts a process can run. */
export type Part = 'router' | 'sub' | 'worker' | 'inputs';

/** Parts in the order they start; they close in the reverse order (inputs stop taking before the router stops). */
export const PART_ORDER: readonly Part[] = ['router', 'inputs', 'sub', 'worker'];

type Starter = (settings: ReactorSettings, log: Logger) => Promise<Daemon>;

/**
 * Each part's module is loaded only when that part starts, so `event-router` never loads
 * the MongoDB driver or BullMQ.
 */
const STARTERS: Record<Part, () => Promise<Starter>> = {
  router: async () => (await import('./router-daemon.js')).startRouterDaemon,
  sub: async () => (await import('./sub-daemon.js')).startSubDaemon,
  worker: async () => (await import('./worker-daemon.js')).startWorkerDaemon,
  inputs: async () => (await import('./inputs-daemon.js')).startInputsDaemon,
};

/** Daemon parts running in this process, closed together. */
export interface RunningDaemons {
  readonly daemons: readonly Daemon[];
  /** Close every part, last started first, then whatever `closers` held before. Idempotent. */
  close(): Promise<void>;
}

/**
 * Start `parts` in {@link PART_ORDER} on top of `closers` (which may already hold what
 * they need, such as local servers: those close last). Closing in reverse start order
 * stops intake first: the router flushes, then the subscriber archives and enqueues what
 * it received, then workers finish their jobs. If a part fails to start, what was started
 * is closed before the error is thrown.
 */
export async function startDaemons(
  parts: readonly Part[],
  settings: ReactorSettings,
  log: Logger,
  closers: CloserStack = new CloserStack(log),
): Promise<RunningDaemons> {
  const daemons: Daemon[] = [];
  try {
    for (const part of PART_ORDER.filter((p) => parts.includes(p))) {
      const start = await STARTERS[part]();
      const daemon = await start(settings, log);
      daemons.push(daemon);
      closers.push(daemon.name, () => daemon.close());
    }
  } catch (err) {
    await closers.close();
    throw err;
  }
  log.info({ parts: daemons.map((d) => d.name), config: settings.configFile }, 'started');
  return { daemons, close: () => closers.close() };
}
