import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { counter, createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { ConfigError } from '../errors.js';
import { routerBinds } from '../config/router-binds.js';
import { Router, type RouterEndpoints } from '../router/router.js';
import type { RedisJournal } from '../router/redis-journal.js';
import { CloserStack } from '../lifecycle/closers.js';
import type { OpsServer, ReadinessCheck } from '../http/ops-server.js';
import { AuthorizedClients } from '../security/authorized-clients.js';
import { exposedEndpoints, protectedModeMessage } from '../security/exposure.js';
import { CLIENTS_DIR, serverKeyPair } from '../security/key-files.js';
import { ZapHandler } from '../security/zap-handler.js';
import type { Daemon } from './daemon.js';
import { startOps } from './ops.js';

/**
 * Connect the Redis journal and pick this run's epoch: now, or one past the journal's
 * last epoch if the clock is behind it (the journal's order is the epochs' order).
 *
 * @throws {JournalError} (exit 69) when the journal's Redis does not answer
 */
async function openJournal(settings: ReactorSettings, log: Logger, closers: CloserStack): Promise<{ journal: RedisJournal; epoch: number }> {
  const s = settings.router;
  // Loaded only for this journal: ioredis alone is about 23 MiB of resident memory.
  const { RedisJournal } = await import('../router/redis-journal.js');
  const journal = new RedisJournal({
    redisUrl: settings.redisUrl,
    name: s.name,
    maxEvents: s.replayMaxEvents,
    maxBytes: s.replayMaxBytes,
    waitReplicas: settings.redisWait.replicas,
    waitTimeoutMs: settings.redisWait.timeoutMs,
  });
  closers.push('journal', () => journal.close());
  await journal.start();
  const extent = await journal.extent();
  const now = Date.now();
  const epoch = extent.last && extent.last.epoch >= now ? extent.last.epoch + 1 : now;
  if (epoch !== now)
    log.warn({ journalEpoch: extent.last?.epoch, now }, "the clock is behind the journal: this run takes the next epoch after the journal's last");
  log.info({ key: journal.key, events: extent.length, first: extent.first ?? null, last: extent.last ?? null, epoch }, 'journal in Redis');
  return { journal, epoch };
}

export interface RouterDaemon extends Daemon {
  router: Router;
  endpoints: RouterEndpoints;
  /** Its metrics and health endpoints. */
  http: OpsServer;
}

/**
 * Check protected mode, start the ZAP handler under `security.curve`, bind the router's
 * sockets, then serve its metrics and health.
 *
 * @throws {ConfigError} (exit 78) when, without CURVE, the router would bind an address
 *   others can reach and `security.allow_insecure` does not allow it
 */
export async function startRouterDaemon(settings: ReactorSettings, log: Logger): Promise<RouterDaemon> {
  const rlog = log.child({ component: 'router' });
  const { curve, allowInsecure, keysDir, clients: policies } = settings.security;
  const binds = routerBinds(settings.router);
  if (!curve) {
    const exposed = exposedEndpoints(binds);
    if (exposed.length > 0 && !allowInsecure) throw new ConfigError([{ file: settings.configFile, path: 'security', message: protectedModeMessage(exposed) }]);
    if (exposed.length > 0)
      rlog.warn(
        { exposed },
        'security.allow_insecure: the router accepts unauthenticated clients from the network; anyone who reaches it can fire events and read the stream',
      );
  }
  const closers = new CloserStack(rlog);
  try {
    const registry = createRegistry('router');
    let curveSecretKey: string | undefined;
    if (curve) {
      curveSecretKey = serverKeyPair(keysDir).secretKey;
      const clients = new AuthorizedClients({ dir: join(keysDir, CLIENTS_DIR), log: rlog });
      clients.start();
      closers.push('authorized clients', () => clients.close());
      const scopes = new Map<string, readonly string[] | undefined>(
        binds.map((b, i) => [b.socket, i === 0 ? settings.router.pullScope : settings.router.rep[i - 1]?.scope]),
      );
      const zap = new ZapHandler({
        clients,
        policies,
        scopes,
        failures: counter(registry, 'router_auth_failures_total', 'Connections refused by CURVE authentication, by socket', ['socket']),
        log: rlog,
      });
      await zap.start();
      closers.push('zap', () => zap.close());
      rlog.info({ clients: clients.size, keysDir }, 'CURVE on: only authorized client keys may connect');
    }
    const journal = settings.router.journal === 'redis' ? await openJournal(settings, rlog, closers) : undefined;
    const router = new Router({
      settings: settings.router,
      log: rlog,
      registry,
      name: settings.router.name,
      ...(curveSecretKey ? { curveSecretKey } : {}),
      ...(journal ? { journal: journal.journal, epoch: journal.epoch } : {}),
    });
    closers.push('router', () => router.close());
    const endpoints = await router.start();
    const checks: ReadinessCheck[] = [{ name: 'sockets', check: () => void router.endpoints }];
    if (journal) checks.push({ name: 'journal', check: () => journal.journal.ping() });
    const http = await startOps('router', settings, registry, checks, rlog, closers);
    return { name: 'router', registry, router, endpoints, http, close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
