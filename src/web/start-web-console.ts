import type { ReactorSettings } from '../config/settings.js';
import { collectStatus } from '../daemons/stack-status.js';
import type { ListenAddress } from '../http/listen-address.js';
import { CloserStack } from '../lifecycle/closers.js';
import type { Logger } from '../logger.js';
import { LiveStream } from './live-stream.js';
import { MetricsSampler, metricsTargets } from './metrics-sampler.js';
import { WebConsole } from './web-console.js';
import { readWebToken, refuseExposedWithoutToken } from './web-auth.js';

export interface StartWebConsoleOptions {
  /** Where to listen instead of `http.web` (the `--http` flag). */
  address?: ListenAddress;
  /** The metrics sampling interval, in ms; default 5000. */
  sampleIntervalMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** A running web console and what it holds, closed together. */
export interface RunningWebConsole {
  console: WebConsole;
  url: string;
  /** Stop the HTTP server first, then the stream, the sampler and the stores. Idempotent. */
  close(): Promise<void>;
}

/**
 * Start the web console for the stack `settings` describe: the token is read and the
 * address checked before anything connects (a refused start leaves nothing behind), then
 * the archive (read-only: no index is created) and the dead-letter queue are opened, the
 * live stream followed, the daemons' metrics sampled, and the HTTP server started, each
 * on a stack of closers (as the daemons do: see daemons/router-daemon.ts).
 *
 * @throws {ConfigError} (exit 78) when the address is not loopback and there is no token,
 *   or the token file is unsafe; {@link TransportError} when the address cannot be bound;
 *   {@link ArchiveError} when MongoDB cannot be reached
 */
export async function startWebConsole(settings: ReactorSettings, log: Logger, options: StartWebConsoleOptions = {}): Promise<RunningWebConsole> {
  const wlog = log.child({ component: 'web' });
  const address = options.address ?? settings.http.web;
  const addressFrom = options.address ? { file: '--http', path: '' } : { file: settings.configFile, path: 'http.web' };
  const token = readWebToken(settings.web.tokenFile, settings.configFile, options.env);
  refuseExposedWithoutToken(address, token, addressFrom);

  const closers = new CloserStack(wlog);
  try {
    const { MongoArchive } = await import('../archive/mongo-archive.js');
    const archive = await MongoArchive.connect({
      ...settings.mongo,
      log: wlog,
      serverSelectionTimeoutMS: 5000,
      ensureIndexes: false,
    });
    closers.push('archive', () => archive.close());
    const { DeadLetters } = await import('../queue/dead-letters.js');
    const { loadHandlersFile } = await import('../config/handlers-file.js');
    // Read at each retry: the console runs for long, and the file changes under it.
    const handlerKnown = (key: string, id: string): boolean => {
      try {
        return loadHandlersFile(settings.handlersFile).rules.byRef(key, id) !== undefined;
      } catch {
        return true; // a broken file: the workers keep their table and check again
      }
    };
    const deadLetters = new DeadLetters({ redisUrl: settings.redisUrl, queue: settings.queue, log: wlog, handlerKnown });
    closers.push('dead letters', () => deadLetters.close());
    const curve = settings.security.curve ? (await import('../security/key-files.js')).localClientKeys(settings.security.keysDir) : undefined;
    const live = new LiveStream({ publisherUri: settings.sub.routers.map((r) => r.publisherUri), curve, log: wlog });
    live.start();
    closers.push('live stream', () => live.close());
    const sampler = new MetricsSampler({
      targets: metricsTargets(settings.http),
      log: wlog,
      ...(options.sampleIntervalMs ? { intervalMs: options.sampleIntervalMs } : {}),
    });
    sampler.start();
    closers.push('metrics sampler', () => sampler.close());
    const web = new WebConsole({
      address,
      addressFrom,
      token,
      archive,
      deadLetters,
      live,
      rates: () => sampler.history(),
      status: () => collectStatus(settings),
      log: wlog,
    });
    closers.push('http', () => web.close());
    const url = await web.start();
    return { console: web, url, close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
