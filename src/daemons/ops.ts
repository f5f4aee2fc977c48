import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { ReactorSettings } from '../config/settings.js';
import type { CloserStack } from '../lifecycle/closers.js';
import { OpsServer, type ReadinessCheck } from '../http/ops-server.js';

/**
 * Serve a daemon part's `/metrics`, `/healthz` and `/readyz` on its `http.<part>` address.
 * Pushed on `closers` so it closes first: a stopping daemon stops answering ready at once.
 */
export async function startOps(
  part: 'router' | 'sub' | 'worker' | 'inputs',
  settings: ReactorSettings,
  registry: Registry,
  checks: readonly ReadinessCheck[],
  log: Logger,
  closers: CloserStack,
  more: { alive?: () => boolean; info?: () => Record<string, unknown> } = {},
): Promise<OpsServer> {
  const server = new OpsServer({ daemon: part, address: settings.http[part], registry, checks, log, ...more });
  await server.start();
  closers.push('http', () => server.close());
  return server;
}
