import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../../src/devstack/free-port.js';
import { ROOT } from '../../helpers/bins.js';
import { Proc } from './processes.js';
import type { Stack } from './stack.js';

export interface TopologyOptions {
  /** Routers, each with its own name (`r1`, `r2`...), ports and journal in the shared Redis. */
  routers: number;
  /** Subscribers (`sub-1`, `sub-2`...), each following every router with a cursor per router. */
  subscribers: number;
}

interface Endpoints {
  pull: string;
  rep: string;
  pub: string;
  replay: string;
}

type ConfigJson = {
  aggregator: { config: Record<string, unknown> };
  feeds: { feeders: { config: Record<string, unknown> }[] };
  outputs: { config: Record<string, unknown> }[];
  router: Record<string, unknown>;
  subscriber: Record<string, unknown>;
  worker: Record<string, unknown>;
};

/**
 * Several routers and subscribers around a fault scenario's stack, laid out as README
 * "Topology" shows: the stack's router is `r1` and its subscriber `sub-1`; the others run
 * the same built bins from config files of their own in the stack's directory. Every
 * subscriber follows every router (`subscriber.routers`, a cursor `<sub>@<router>` each),
 * the workers fire to all routers (`worker.router_uri`), and the feeder's REQ clients and
 * PUSH sockets get every router's endpoint (comma-separated).
 */
export class Topology {
  readonly #o: TopologyOptions;
  #stack: Stack | undefined;
  #extraRouters: Proc[] = [];
  #extraSubs: Proc[] = [];
  #endpoints: Endpoints[] = [];

  constructor(options: TopologyOptions) {
    if (options.routers < 1 || options.subscribers < 1) throw new RangeError('a topology needs at least one router and one subscriber');
    this.#o = options;
  }

  /** Router names, in order: `r1`, `r2`... */
  get routerNames(): string[] {
    return Array.from({ length: this.#o.routers }, (_, i) => `r${i + 1}`);
  }

  /** Every router, the stack's first. */
  get routers(): Proc[] {
    return [this.#need().router, ...this.#extraRouters];
  }

  /** Every subscriber, the stack's first. */
  get subs(): Proc[] {
    return [this.#need().sub, ...this.#extraSubs];
  }

  /**
   * For `Scenario.start`'s `prepare`: write the config of every daemon, start the routers
   * beyond the first (the stack starts its own router, then its subscriber, which should
   * find every router up), and return the feeder's endpoints.
   */
  readonly prepare = async (stack: Stack): Promise<{ reqUri: string; pullUri: string }> => {
    this.#stack = stack;
    const { ports, configFile, dir } = stack.cfg;
    const at = (port: number): string => `tcp://127.0.0.1:${port}`;
    this.#endpoints = [{ pull: at(ports.pull), rep: at(ports.rep), pub: at(ports.pub), replay: at(ports.replay) }];
    for (let i = 1; i < this.#o.routers; i++)
      this.#endpoints.push({ pull: at(await freePort()), rep: at(await freePort()), pub: at(await freePort()), replay: at(await freePort()) });
    const names = this.routerNames;
    const base = JSON.parse(readFileSync(configFile, 'utf8')) as ConfigJson;
    const reqUri = this.#endpoints.map((e) => e.rep).join(',');
    base.router = { ...base.router, name: names[0] };
    base.subscriber = {
      ...base.subscriber,
      name: 'sub-1',
      routers: this.#endpoints.map((e, i) => ({ name: names[i], publisher_uri: e.pub, replay_uri: e.replay })),
    };
    base.worker = { ...base.worker, router_uri: reqUri };
    writeFileSync(configFile, JSON.stringify(base, null, 2));
    const daemon = (bin: string, name: string, config: ConfigJson): Proc => {
      const file = join(dir, `config-${name}.json`);
      writeFileSync(file, JSON.stringify(config, null, 2));
      return new Proc({
        name,
        command: process.execPath,
        args: [join(ROOT, 'bin', bin), '-c', file, '-l', 'INFO'],
        cwd: ROOT,
        logFile: join(dir, `${name}.log`),
      });
    };
    for (let i = 1; i < this.#o.routers; i++) {
      const e = this.#endpoints[i]!;
      const port = (uri: string): number => Number(uri.slice(uri.lastIndexOf(':') + 1));
      const config = structuredClone(base);
      config.aggregator.config['port'] = port(e.pull);
      config.feeds.feeders[0]!.config['uri'] = e.rep;
      config.outputs[0]!.config['port'] = port(e.pub);
      config.router = { ...config.router, name: names[i], replay_bind: e.replay };
      this.#extraRouters.push(daemon('event-router', `event-router-${i + 1}`, config));
    }
    for (let i = 1; i < this.#o.subscribers; i++) {
      const config = structuredClone(base);
      config.subscriber = { ...config.subscriber, name: `sub-${i + 1}` };
      this.#extraSubs.push(daemon('event-sub', `event-sub-${i + 1}`, config));
    }
    for (const r of this.#extraRouters) await stack.startOne(r);
    return { reqUri, pullUri: this.#endpoints.map((e) => e.pull).join(',') };
  };

  /** Start the subscribers beyond the first (after `Scenario.start`). */
  async startSubscribers(): Promise<void> {
    const stack = this.#need();
    for (const s of this.#extraSubs) await stack.startOne(s);
  }

  /**
   * The events in router `name`'s journal (`er:journal:{name}`), id and epoch, read
   * straight from Redis: which router accepted (journaled) what, in which of its runs.
   */
  async journal(redisUrl: string, name: string): Promise<{ id: string; epoch: number }[]> {
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      const out: { id: string; epoch: number }[] = [];
      for (let from = '-'; ;) {
        const page = await redis.xrange(`er:journal:{${name}}`, from, '+', 'COUNT', 2000);
        for (const [entry, fields] of page) out.push({ id: (JSON.parse(fields[1]!) as { id: string }).id, epoch: Number(entry.split('-')[0]) });
        if (page.length < 2000) return out;
        from = `(${page.at(-1)![0]}`;
      }
    } finally {
      redis.disconnect();
    }
  }

  /** Per extra subscriber, what its log says happened (as `Stack.evidence` does for the first). */
  evidence(): Record<string, number> {
    const out: Record<string, number> = {};
    this.#extraSubs.forEach((p, i) => {
      const lines = p.logLines(['subscriber connected', 'caught up from the replay socket', 'events lost: sequence gap could not be repaired']);
      const key = `sub${i + 2}`;
      // One "subscriber connected" per router it follows, at each start.
      out[`${key}_starts`] = lines.filter((l) => l['msg'] === 'subscriber connected').length / this.#o.routers;
      const catchUps = lines.filter((l) => l['msg'] === 'caught up from the replay socket');
      out[`${key}_catch_ups`] = catchUps.length;
      out[`${key}_replayed`] = catchUps.reduce((n, l) => n + Number(l['replayed'] ?? 0), 0);
      out[`${key}_lost_logged`] = lines.filter((l) => String(l['msg']).startsWith('events lost')).reduce((n, l) => n + Number(l['count'] ?? 0), 0);
    });
    return out;
  }

  /** The last lines of the extra daemons' logs, for a failure message. */
  async logTails(bytes = 3000): Promise<string> {
    const dir = this.#need().cfg.dir;
    const parts = await Promise.all(
      [...this.#extraRouters, ...this.#extraSubs].map(async (p) => `--- ${p.name} (log ${join(dir, `${p.name}.log`)}) ---\n${await p.logTail(bytes)}`),
    );
    return parts.join('\n');
  }

  /** Stop the extra daemons (the scenario stops the stack's own); before `Scenario.close`, which stops the servers. */
  async stop(): Promise<void> {
    for (const p of [...this.#extraSubs, ...this.#extraRouters]) await p.stop(10_000);
  }

  #need(): Stack {
    if (!this.#stack) throw new Error('Topology: not laid out yet (pass its prepare to Scenario.start)');
    return this.#stack;
  }
}
