import { readFileSync, writeFileSync } from 'node:fs';
import * as zmq from 'zeromq';
import { loadConfig } from '../../src/config/load.js';
import type { ReactorSettings } from '../../src/config/settings.js';
import { startRouterDaemon, type RouterDaemon } from '../../src/daemons/router-daemon.js';
import { startInputsDaemon, type InputsDaemon } from '../../src/daemons/inputs-daemon.js';
import type { ReactorEvent } from '../../src/event/event.js';
import { pino } from 'pino';
import { createLogger, silentLogger, toPinoLevel, type Logger } from '../../src/logger.js';
import { RouterClient } from '../../src/wire/router-client.js';
import { ReplayClient } from '../../src/wire/replay-client.js';
import { eventually, writeTestConfig, type TestConfig } from './config.js';

/**
 * A router, the events it publishes, and an inputs daemon running `feeders` (beside the
 * test config's ZMQInput), on free ports. `stopRouter()` and `startRouter()` take the
 * router away and bring it back on the same ports; `restartInputs()` starts a new inputs
 * daemon on the same config.
 */
export interface InputsStack {
  cfg: TestConfig;
  settings: ReactorSettings;
  router: RouterDaemon | undefined;
  inputs: InputsDaemon | undefined;
  /** Every event the router published, in order. */
  published: ReactorEvent[];
  /** Resolves with the published events matching `match` once there are `count` of them. */
  waitFor(match: (e: ReactorEvent) => boolean, count?: number, timeoutMs?: number): Promise<ReactorEvent[]>;
  stopRouter(): Promise<void>;
  startRouter(): Promise<void>;
  startInputs(): Promise<InputsDaemon>;
  stopInputs(): Promise<void>;
  close(): Promise<void>;
}

export async function inputsStack(o: { redisUrl: string; mongoUrl: string; feeders: unknown[]; log?: Logger; startInputs?: boolean }): Promise<InputsStack> {
  const cfg = await writeTestConfig({ redisUrl: o.redisUrl, mongoUrl: o.mongoUrl, handlers: {} });
  const raw = JSON.parse(readFileSync(cfg.configFile, 'utf8')) as { feeds: { feeders: unknown[] }; http: Record<string, string> };
  raw.feeds.feeders.push(...o.feeders);
  raw.http['inputs'] = '127.0.0.1:0';
  writeFileSync(cfg.configFile, JSON.stringify(raw, null, 2));
  const settings = loadConfig({ path: cfg.configFile, env: {} }).settings;
  // TEST_INPUTS_LOG=debug shows the daemons' logs on stderr.
  const level = toPinoLevel(process.env['TEST_INPUTS_LOG'] ?? '');
  const log = o.log ?? (level ? createLogger({ level, destination: pino.destination({ dest: 2, sync: true }) }) : silentLogger());
  const published: ReactorEvent[] = [];
  const seen = new Set<string>();
  const add = (e: ReactorEvent): void => {
    const key = `${e.epoch}:${e.seq}`;
    if (seen.has(key)) return;
    seen.add(key);
    published.push(e);
  };
  // Events published while the test subscriber was reconnecting to a restarted router are
  // fetched from its replay buffer, as the real subscriber does.
  const replay = new ReplayClient(`tcp://127.0.0.1:${cfg.ports.replay}`, 2000);
  const catchUp = async (): Promise<void> => {
    const router = stack.router;
    if (!router) return;
    const epoch = router.router.epoch;
    for (let seq = 0; ;) {
      const r = await replay.since(epoch, seq, 1000);
      for (const e of r.events) add(e);
      if (!r.more || r.events.length === 0) return;
      seq = r.events[r.events.length - 1]!.seq;
    }
  };
  const sub = new zmq.Subscriber({ linger: 0 });
  sub.connect(`tcp://127.0.0.1:${cfg.ports.pub}`);
  sub.subscribe();
  const receiving = (async () => {
    try {
      for await (const frames of sub) add(JSON.parse(frames[frames.length - 1]!.toString('utf8')) as ReactorEvent);
    } catch {
      // closed
    }
  })();
  const stack: InputsStack = {
    cfg,
    settings,
    router: undefined,
    inputs: undefined,
    published,
    async waitFor(match, count = 1, timeoutMs = 20_000) {
      return eventually(
        async () => {
          let found = published.filter(match);
          if (found.length < count) {
            await catchUp().catch(() => undefined);
            found = published.filter(match);
          }
          // In the router's order (events fetched by a catch-up come after later live ones).
          return found.length >= count ? found.sort((a, b) => a.epoch - b.epoch || a.seq - b.seq) : undefined;
        },
        `${count} published event(s)`,
        timeoutMs,
      );
    },
    async stopRouter() {
      await stack.router?.close();
      stack.router = undefined;
    },
    async startRouter() {
      stack.router = await startRouterDaemon(settings, log);
      // PUB/SUB joins asynchronously: wait until a probe comes through.
      const client = new RouterClient({ uri: `tcp://127.0.0.1:${cfg.ports.rep}`, timeoutMs: 2000 });
      try {
        await eventually(async () => {
          const probe = await client.send({ event_type: 'test.probe' });
          return eventually(async () => published.some((e) => e.id === probe.id), 'probe', 300).catch(() => false);
        }, 'the test subscriber to join');
      } finally {
        client.close();
      }
    },
    async startInputs() {
      stack.inputs = await startInputsDaemon(settings, log);
      return stack.inputs;
    },
    async stopInputs() {
      await stack.inputs?.close();
      stack.inputs = undefined;
    },
    async close() {
      await stack.stopInputs();
      await stack.stopRouter();
      sub.close();
      replay.close();
      await receiving;
    },
  };
  try {
    await stack.startRouter();
    if (o.startInputs !== false) await stack.startInputs();
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}
