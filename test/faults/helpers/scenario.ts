import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Feeder, type FeederOptions } from './feeder.js';
import { RestartableServer, type ListenOptions } from './servers.js';
import { Stack, type StackOptions } from './stack.js';
import { report, Tally, type SettleOptions, type Summary } from './tally.js';

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!(n > 0)) throw new RangeError(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/** Events fired per scenario (`FAULT_EVENTS`, default 10000). */
export const FAULT_EVENTS = Math.round(envNumber('FAULT_EVENTS', 10_000));
/** Length of a Redis or MongoDB outage in seconds (`FAULT_OUTAGE_S`, default 30). */
export const FAULT_OUTAGE_S = envNumber('FAULT_OUTAGE_S', 30);
/** Input rate in events per second (`FAULT_RATE`, default 500). */
export const FAULT_RATE = envNumber('FAULT_RATE', 500);

/** The Redis of a scenario: a {@link RestartableServer}, or another topology (Sentinel) with its address. */
export interface ScenarioRedis {
  url: string;
  destroy(): Promise<void>;
}

export interface ScenarioOptions<R extends ScenarioRedis = RestartableServer> extends ListenOptions {
  /** Start the scenario's Redis; default one durable server ({@link RestartableServer.redis}). */
  redis?: () => Promise<R>;
  stack?: Omit<StackOptions, 'redisUrl' | 'mongoUrl'>;
  /** How workers are started, knowing the servers (a worker on another host reaches them at another address). */
  workerCommand?: (servers: { redis: R; mongo: RestartableServer }) => StackOptions['workerCommand'];
  feeder?: Partial<Omit<FeederOptions, 'reqUri' | 'pullUri' | 'prefix'>>;
  /**
   * Called once the stack's config is written, before its daemons start: lays out more
   * daemons (several routers and subscribers, see topology.ts) and gives the feeder's
   * endpoints. Default: the stack's one router.
   */
  prepare?: (stack: Stack) => Promise<Pick<FeederOptions, 'reqUri' | 'pullUri'>>;
}

/**
 * One fault scenario: its own Redis and MongoDB (restartable, on free ports), the three
 * daemons as built bins, a feeder, and a tally read straight from the stores.
 */
export class Scenario<R extends ScenarioRedis = RestartableServer> {
  readonly name: string;
  readonly redis: R;
  readonly mongo: RestartableServer;
  readonly stack: Stack;
  readonly feeder: Feeder;
  readonly tally: Tally;
  readonly started = Date.now();
  /** Largest resident set of the subscriber seen so far (sampled every 500 ms), in bytes. */
  subRssMax = 0;
  readonly #sampler: NodeJS.Timeout;
  #closed: Promise<void> | undefined;
  #passed = false;

  private constructor(name: string, redis: R, mongo: RestartableServer, stack: Stack, feeder: Feeder) {
    this.name = name;
    this.redis = redis;
    this.mongo = mongo;
    this.stack = stack;
    this.feeder = feeder;
    this.tally = new Tally(stack, mongo.url, redis.url);
    this.#sampler = setInterval(() => {
      this.subRssMax = Math.max(this.subRssMax, stack.sub.rss() ?? 0);
    }, 500);
  }

  /** Start the servers and the daemons; the feeder is ready but not yet firing. */
  static async start<R extends ScenarioRedis = RestartableServer>(name: string, o: ScenarioOptions<R> = {}): Promise<Scenario<R>> {
    const listen = { listenAll: o.listenAll ?? false };
    const startRedis = o.redis ?? ((() => RestartableServer.redis(listen)) as unknown as () => Promise<R>);
    const [redis, mongo] = await Promise.all([startRedis(), RestartableServer.mongo(listen)]);
    const workerCommand = o.workerCommand?.({ redis, mongo });
    const stack = await Stack.create({ redisUrl: redis.url, mongoUrl: mongo.url, ...o.stack, ...(workerCommand ? { workerCommand } : {}) });
    const { ports } = stack.cfg;
    const endpoints = (await o.prepare?.(stack)) ?? { reqUri: `tcp://127.0.0.1:${ports.rep}`, pullUri: `tcp://127.0.0.1:${ports.pull}` };
    const feeder = new Feeder({
      prefix: name,
      total: FAULT_EVENTS,
      ratePerSec: FAULT_RATE,
      ...endpoints,
      ...o.feeder,
    });
    const s = new Scenario(name, redis, mongo, stack, feeder);
    try {
      await stack.start();
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  /**
   * Fire `FAULT_EVENTS` events; once 30% are out, kill `server` (kill -9) for
   * `FAULT_OUTAGE_S` seconds and start it again on its data; check nothing was lost.
   */
  async outage(server: RestartableServer): Promise<void> {
    const feeding = this.feeder.run();
    await this.feeder.waitDispatched(Math.floor(FAULT_EVENTS * 0.3));
    const downAt = Math.round(this.seconds * 10) / 10;
    await server.kill();
    await sleep(FAULT_OUTAGE_S * 1000);
    await server.start();
    const upAt = Math.round(this.seconds * 10) / 10;
    await feeding;
    const summary = await this.finish({ outage: { down_at: downAt, up_at: upAt } });
    await this.assertNothingLost(summary);
  }

  /** Seconds since the scenario started. */
  get seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  /**
   * Wait for the pipeline to settle, read the outcome, print the summary line (with
   * `extra` fields) and return it.
   */
  async finish(extra: Record<string, unknown> = {}, settle: SettleOptions = {}): Promise<Summary> {
    const settled = await this.tally.settle(this.feeder.fired, settle);
    const outcome = await this.tally.summarize(this.name, this.feeder.fired, this.seconds);
    const summary = { ...outcome, settled, sub_rss_max_mb: Math.round(this.subRssMax / 1e5) / 10, ...extra, ...this.stack.evidence() };
    report(summary);
    return summary;
  }

  /**
   * Assert the promise of the suite: everything sent archived exactly once, every
   * (event, handler) pair with exactly one ok result (or dead-lettered with a reason),
   * no duplicates, nothing lost. The failure message carries the daemons' log tails.
   */
  async assertNothingLost(s: Summary): Promise<void> {
    const checks: [string, boolean][] = [
      ['every REQ event answered', s.req_failed === 0],
      ['every sent event archived', s.lost_events === 0],
      ['each archived once', s.archived === s.distinct_archived && s.distinct_archived === s.sent],
      ['nothing archived that was not fired', s.unexpected === 0],
      ['every (event, handler) pair has a final result', s.lost_results === 0],
      ['no duplicate results', s.duplicates === 0],
      ['every dead letter has a reason', s.dead_without_reason === 0],
    ];
    const failed = checks.filter(([, ok]) => !ok).map(([what]) => what);
    if (failed.length === 0) {
      this.#passed = true;
      return;
    }
    assert.fail(`${this.name}: ${failed.join('; ')} failed\n${JSON.stringify(s)}\n${await this.stack.logTails()}`);
  }

  /** Stop the daemons and servers; remove the daemon logs when the scenario passed (unless `FAULT_KEEP_LOGS` is set). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#sampler);
      this.feeder.close();
      await this.stack.stop().catch(() => undefined);
      await this.tally.close().catch(() => undefined);
      await Promise.all([this.redis.destroy(), this.mongo.destroy()]);
      if (this.#passed && !process.env['FAULT_KEEP_LOGS']) rmSync(this.stack.cfg.dir, { recursive: true, force: true });
      else process.stderr.write(`${this.name}: daemon logs kept in ${this.stack.cfg.dir}\n`);
    })();
    return this.#closed;
  }
}
