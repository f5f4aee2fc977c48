import type { Command } from 'commander';
import { addDaemonOptions, loadForDaemon, parsePositiveInt, reportError, type DaemonFlags } from './common.js';
import type { Part } from '../daemons/start-daemons.js';

const DESCRIPTIONS: Record<Part, string> = {
  router: 'Run the router: PULL (feeders) and REP (custom events) in, one PUB stream out',
  sub: 'Run the subscriber: archive every event in MongoDB and enqueue matching handlers on BullMQ',
  worker: 'Run handler workers: execute shell and tsfunc handlers and archive their results',
  inputs: 'Run the inputs of feeds.feeders (AMQP, HTTP, MQTT, timers, beacons): forward their events to the router',
};

/** Add the action for one daemon to `cmd`; `result.code` receives the exit code. */
export function configureDaemonCommand(cmd: Command, part: Part, result: { code: number }): Command {
  addDaemonOptions(cmd.description(DESCRIPTIONS[part]));
  if (part === 'worker') cmd.option('--concurrency <n>', 'jobs run at once (overrides worker.concurrency)', parsePositiveInt);
  cmd.option('--http <host:port>', `where to serve /metrics, /healthz and /readyz (overrides http.${part}; port 0 picks one)`);
  return cmd.action(async (flags: DaemonFlags & { http?: string }) => {
    try {
      const { settings, log } = loadForDaemon(flags, `event-${part}`, flags.http === undefined ? {} : { http: { part, address: flags.http } });
      const { runDaemons } = await import('./run-daemons.js');
      result.code = await runDaemons([part], settings, log);
    } catch (err) {
      result.code = reportError(err, `event-${part}`);
    }
  });
}
