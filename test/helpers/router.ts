import { Router, type RouterEndpoints } from '../../src/router/router.js';
import { createRegistry } from '../../src/metrics.js';
import { silentLogger } from '../../src/logger.js';
import type { RouterSettings } from '../../src/config/settings.js';

export interface TestRouter {
  router: Router;
  registry: ReturnType<typeof createRegistry>;
  ep: RouterEndpoints;
}

/**
 * Start a router on ephemeral loopback ports (PULL namespace `feed`, one REP feeder in
 * namespace `local`), with `over` applied to the settings. The caller closes it.
 */
export async function startTestRouter(over: Partial<RouterSettings> = {}): Promise<TestRouter> {
  const registry = createRegistry('router');
  const settings: RouterSettings = {
    pullBind: 'tcp://127.0.0.1:*',
    pullNamespace: 'feed',
    rep: [{ bind: 'tcp://127.0.0.1:*', namespace: 'local' }],
    pubBind: 'tcp://127.0.0.1:*',
    framing: 'multipart',
    pubHighWaterMark: 10_000,
    maxEventBytes: 4096,
    maxHops: 8,
    refusalLogIntervalMs: 1000,
    replayBind: 'tcp://127.0.0.1:*',
    replayMaxEvents: 1000,
    replayMaxBytes: 1024 * 1024,
    journal: 'memory',
    name: 'test',
    ...over,
  };
  const router = new Router({ settings, log: silentLogger(), registry });
  const ep = await router.start();
  return { router, registry, ep };
}
