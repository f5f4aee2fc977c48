import type { Logger } from '../logger.js';
import { createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { Router, type RouterEndpoints } from '../router/router.js';
import type { Daemon } from './daemon.js';

export interface RouterDaemon extends Daemon {
  router: Router;
  endpoints: RouterEndpoints;
}

export async function startRouterDaemon(settings: ReactorSettings, log: Logger): Promise<RouterDaemon> {
  const registry = createRegistry('router');
  const router = new Router({ settings: settings.router, log: log.child({ component: 'router' }), registry });
  const endpoints = await router.start();
  return { name: 'router', registry, router, endpoints, close: () => router.close() };
}
