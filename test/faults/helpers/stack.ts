import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { handlerId } from '../../../src/handlers/spec.js';
import { ROOT } from '../../helpers/bins.js';
import { writeTestConfig, type TestConfig } from '../../helpers/config.js';
import { Proc } from './processes.js';

/** Event types the feeder fires: every event runs the tsfunc handler, `fault.shell` ones the shell handler too. */
export const EVENT_TYPE = 'fault.event';
export const SHELL_EVENT_TYPE = 'fault.shell';
/** An event type no handler takes: archived, never run. */
export const ARCHIVE_ONLY_EVENT_TYPE = 'fault.archive-only';

// A payload with "poison": true kills the worker running it (a handler that crashes its process).
const RECORD_TS = `export function record(e: { id: string; seq: number; payload: { poison?: boolean } }) {
  if (e.payload.poison === true) process.kill(process.pid, 'SIGKILL');
  return { id: e.id, seq: e.seq };
}
`;
// Sleeps FAULT_NAP_MS (a handler far slower than the input), and stops when aborted.
const NAP_TS = `export async function nap(e: { id: string; payload: { poison?: boolean } }, ctx: { signal: AbortSignal }) {
  if (e.payload.poison === true) process.kill(process.pid, 'SIGKILL');
  const ms = Number(process.env.FAULT_NAP_MS ?? 100);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    ctx.signal.addEventListener('abort', () => (clearTimeout(t), reject(ctx.signal.reason)), { once: true });
  });
  return { id: e.id };
}
`;
const MARK_SH = '#!/bin/sh\necho "$EVENT_ID"\n';

export interface StackOptions {
  redisUrl: string;
  mongoUrl: string;
  /** Worker processes; default 1. */
  workers?: number;
  /** tsfunc handler of every event: `record.record` (returns at once) or `nap.nap` (sleeps). */
  tsfunc?: 'record.record' | 'nap.nap';
  /** Extra config.json keys, merged over the generated ones. */
  extra?: Record<string, unknown>;
  /** Extra environment for the daemons. */
  env?: NodeJS.ProcessEnv;
  /** PUB send high-water mark (`outputs[0].config.sndhwm`); default the product's. */
  pubHighWaterMark?: number;
  /** How worker number `index` (from 0) is started, e.g. inside a network namespace; default as is. */
  workerCommand?: (index: number, command: string, args: string[]) => { command: string; args: string[] };
}

/** The three daemons as the built bins, each a {@link Proc} that can be killed and restarted. */
export class Stack {
  readonly cfg: TestConfig;
  readonly router: Proc;
  readonly sub: Proc;
  readonly workers: Proc[];
  /** Handler ids, to derive the job id of each (event, handler) pair. */
  readonly handlers: { tsfunc: string; shell: string };

  private constructor(cfg: TestConfig, tsfunc: string, workers: number, env: NodeJS.ProcessEnv, workerCommand: StackOptions['workerCommand']) {
    this.cfg = cfg;
    const daemon = (bin: string, name: string, wrap = (command: string, args: string[]) => ({ command, args })): Proc =>
      new Proc({
        name,
        ...wrap(process.execPath, [join(ROOT, 'bin', bin), '-c', cfg.configFile, '-l', 'INFO']),
        cwd: ROOT,
        env,
        logFile: join(cfg.dir, `${name}.log`),
      });
    this.router = daemon('event-router', 'event-router');
    this.sub = daemon('event-sub', 'event-sub');
    this.workers = Array.from({ length: workers }, (_, i) =>
      daemon('event-worker', `event-worker-${i + 1}`, workerCommand ? (command, args) => workerCommand(i, command, args) : undefined),
    );
    this.handlers = { tsfunc: handlerId('tsfunc', tsfunc), shell: handlerId('shell', 'mark.sh') };
  }

  static async create(o: StackOptions): Promise<Stack> {
    const tsfunc = o.tsfunc ?? 'record.record';
    const cfg = await writeTestConfig({
      redisUrl: o.redisUrl,
      mongoUrl: o.mongoUrl,
      handlers: {
        [`local:${EVENT_TYPE}`]: [{ driver: 'tsfunc', handler: tsfunc }],
        [`local:${SHELL_EVENT_TYPE}`]: [
          { driver: 'tsfunc', handler: tsfunc },
          { driver: 'shell', handler: 'mark.sh' },
        ],
      },
      files: { 'record.ts': RECORD_TS, 'nap.ts': NAP_TS, 'mark.sh': MARK_SH },
      extra: mergeSections(
        {
          logging: { loglevel: 'INFO' },
          subscriber: { batch_ms: 20 },
          worker: { concurrency: 16, timeout: 20, retries: 2, backoff: 0.2, shutdown_grace: 5, lock_duration: 5 },
        },
        o.extra ?? {},
      ),
    });
    if (o.pubHighWaterMark !== undefined) {
      const config = JSON.parse(readFileSync(cfg.configFile, 'utf8')) as { outputs: { config: Record<string, unknown> }[] };
      config.outputs[0]!.config['sndhwm'] = o.pubHighWaterMark;
      writeFileSync(cfg.configFile, JSON.stringify(config, null, 2));
    }
    return new Stack(cfg, tsfunc, o.workers ?? 1, o.env ?? {}, o.workerCommand);
  }

  /** Handler ids an event of this type runs (none for {@link ARCHIVE_ONLY_EVENT_TYPE}). */
  handlersOf(eventType: string): string[] {
    if (eventType === SHELL_EVENT_TYPE) return [this.handlers.tsfunc, this.handlers.shell];
    return eventType === ARCHIVE_ONLY_EVENT_TYPE ? [] : [this.handlers.tsfunc];
  }

  get all(): Proc[] {
    return [this.router, this.sub, ...this.workers];
  }

  /** Start the router, the subscriber and the workers, each once it said it started. */
  async start(): Promise<void> {
    for (const p of this.all) await this.startOne(p);
  }

  async startOne(p: Proc): Promise<void> {
    p.start();
    await p.waitForLine(/"msg":"started"/);
  }

  /**
   * Start `p` again whenever it dies, as systemd's `Restart=always` would, until the
   * returned function is called; `restarts()` counts them.
   */
  supervise(p: Proc): { stop: () => void; restarts: () => number } {
    let stopped = false;
    let restarts = 0;
    const watch = (): void => {
      void p.exited.then(async () => {
        if (stopped) return;
        restarts++;
        await this.startOne(p).catch(() => undefined);
        watch();
      });
    };
    watch();
    return { stop: () => (stopped = true), restarts: () => restarts };
  }

  /** SIGTERM everything still running (SIGKILL after a grace). */
  async stop(): Promise<void> {
    for (const p of [...this.workers, this.sub, this.router]) await p.stop(10_000);
  }

  /**
   * What the daemons' logs say happened: subscriber starts, catch-ups from the replay
   * socket (and events so fetched), gaps given up as lost, failed batch attempts; jobs
   * completed without running again, and requeued by a shutdown.
   */
  evidence(): Record<string, number> {
    const sub = this.sub.logLines([
      'subscriber connected',
      'caught up from the replay socket',
      'events lost: sequence gap could not be repaired',
      'batch failed; retrying',
    ]);
    const count = (lines: Record<string, unknown>[], msg: string): number => lines.filter((l) => l['msg'] === msg).length;
    const catchUps = sub.filter((l) => l['msg'] === 'caught up from the replay socket');
    const workers = this.workers.flatMap((w) => w.logLines(['handler already ran; job completed without running it again', 'job requeued']));
    return {
      sub_starts: count(sub, 'subscriber connected'),
      sub_catch_ups: catchUps.length,
      sub_replayed: catchUps.reduce((n, l) => n + Number(l['replayed'] ?? 0), 0),
      sub_lost_logged: sub.filter((l) => String(l['msg']).startsWith('events lost')).reduce((n, l) => n + Number(l['count'] ?? 0), 0),
      sub_batch_retries: count(sub, 'batch failed; retrying'),
      jobs_already_ran: count(workers, 'handler already ran; job completed without running it again'),
      jobs_requeued: count(workers, 'job requeued'),
    };
  }

  /** The last lines of every daemon's log, for a failure message. */
  async logTails(bytes = 3000): Promise<string> {
    const parts = await Promise.all(this.all.map(async (p) => `--- ${p.name} (log ${join(this.cfg.dir, `${p.name}.log`)}) ---\n${await p.logTail(bytes)}`));
    return parts.join('\n');
  }
}

/** `over` merged into `base`, one level deep (config sections such as `worker` are merged, not replaced). */
function mergeSections(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlain(b) && isPlain(v) ? { ...b, ...v } : v;
  }
  return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
