import { chmodSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from '../../src/devstack/free-port.js';
import { loadConfig } from '../../src/config/load.js';
import type { ReactorSettings } from '../../src/config/settings.js';
import { uniqueName } from './services.js';

export interface TestConfig {
  dir: string;
  configFile: string;
  handlersDir: string;
  database: string;
  queue: string;
  ports: { pull: number; rep: number; pub: number; replay: number };
  settings: ReactorSettings;
}

export interface TestConfigOptions {
  redisUrl: string;
  mongoUrl: string;
  /** event-handlers.json content. */
  handlers: Record<string, unknown>;
  /** Files to put in the handler directory (name → content); mode 0644, `.sh` files 0755. */
  files?: Record<string, string>;
  /** Extra top-level config keys (merged over the generated ones). */
  extra?: Record<string, unknown>;
  /** More feeders after the default ZMQInput (REP on ports.rep). */
  feeders?: Record<string, unknown>[];
}

/** A config.json on free ports, a fresh database and queue, and a handler directory. */
export async function writeTestConfig(o: TestConfigOptions): Promise<TestConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'er-cfg-'));
  const handlersDir = join(dir, 'event-handlers');
  // Explicit modes, whatever the umask: workers running as root refuse handler files
  // and directories that are writable by group or others.
  mkdirSync(handlersDir);
  chmodSync(handlersDir, 0o755);
  for (const [name, body] of Object.entries(o.files ?? {})) {
    const file = join(handlersDir, name);
    for (let d = dirname(file); d !== handlersDir; d = dirname(d)) {
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o755);
    }
    writeFileSync(file, body);
    chmodSync(file, name.endsWith('.sh') ? 0o755 : 0o644);
  }
  const ports = { pull: await freePort(), rep: await freePort(), pub: await freePort(), replay: await freePort() };
  const database = uniqueName('er').replaceAll('-', '_');
  const queue = uniqueName('q');
  const config = {
    aggregator: { config: { listen_address: '127.0.0.1', port: ports.pull, protocol: 'tcp', type: 'zmq.PULL' } },
    feeds: { feeders: [{ handler: 'ZMQInput', config: { uri: `tcp://127.0.0.1:${ports.rep}`, namespace: 'local', type: 'zmq.REP' } }, ...(o.feeders ?? [])] },
    outputs: [{ handler: 'zeromq', config: { protocol: 'tcp', port: ports.pub, listen_address: '127.0.0.1', type: 'zmq.PUB' } }],
    logging: { loglevel: process.env['TEST_LOG_LEVEL'] ?? 'WARNING' },
    // Its own journal in the shared Redis.
    router: { replay_bind: `tcp://127.0.0.1:${ports.replay}`, name: queue },
    // Port 0: every daemon picks a free port for its metrics and health.
    http: { router: '127.0.0.1:0', sub: '127.0.0.1:0', worker: '127.0.0.1:0' },
    mongodb: { url: o.mongoUrl, database },
    redis: { url: o.redisUrl },
    subscriber: { batch_ms: 5 },
    worker: { concurrency: 8, timeout: 20 },
    queue: { name: queue },
    ...o.extra,
  };
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'event-handlers.json'), JSON.stringify(o.handlers, null, 2));
  const { settings } = loadConfig({ path: configFile, env: {} });
  return { dir, configFile, handlersDir, database, queue, ports, settings };
}

/** Poll until `check` returns a truthy value or the deadline passes. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
