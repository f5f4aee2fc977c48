import type { Logger } from '../logger.js';
import { createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { Router, type RouterEndpoints } from '../router/router.js';
import type { Daemon } from './daemon.js';
import { CloserStack } from '../lifecycle/closers.js';
import type { OpsServer } from '../http/ops-server.js';
import { startOps } from './ops.js';

export interface RouterDaemon extends Daemon {
  router: Router;
  endpoints: RouterEndpoints;
  /** Its metrics and health endpoints. */
  http: OpsServer;
}

/** Bind the router's sockets, then serve its metrics and health. */
export async function startRouterDaemon(settings: ReactorSettings, log: Logger): Promise<RouterDaemon> {
  const rlog = log.child({ component: 'router' });
  const closers = new CloserStack(rlog);
  try {
    const registry = createRegistry('router');
    const router = new Router({ settings: settings.router, log: rlog, registry });
    closers.push('router', () => router.close());
    const endpoints = await router.start();
    const sockets = { name: 'sockets', check: () => void router.endpoints };
    const http = await startOps('router', settings, registry, [sockets], rlog, closers);
    return { name: 'router', registry, router, endpoints, http, close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
