import type { Command } from 'commander';
import { addDaemonOptions, loadForDaemon, parsePositiveInt, reportError, type DaemonFlags } from './common.js';
import type { Part } from '../daemons/start-daemons.js';
import { hostname } from 'node:os';
import { UsageError } from '../errors.js';
import { ACTOR_NAME, ALL_ACTORS } from '../rules/target.js';
import type { ConfigOverrides } from '../config/load.js';

const DESCRIPTIONS: Record<Part, string> = {
  router: 'Run the router: PULL (feeders) and REP (custom events) in, one PUB stream out',
  sub: 'Run the subscriber: archive every event in MongoDB and enqueue matching handlers on BullMQ',
  worker: 'Run handler workers: execute shell and tsfunc handlers and archive their results',
  inputs: 'Run the inputs of feeds.feeders (AMQP, HTTP, MQTT, timers, beacons): forward their events to the router',
};

/** Add the action for one daemon to `cmd`; `result.code` receives the exit code. */
export function configureDaemonCommand(cmd: Command, part: Part, result: { code: number }): Command {
  addDaemonOptions(cmd.description(DESCRIPTIONS[part]));
  if (part === 'worker')
    cmd
      .option('--concurrency <n>', 'jobs run at once (overrides worker.concurrency)', parsePositiveInt)
      .option('--actor', 'also run the jobs of handler entries whose "target" names this host (see --host-name), with a heartbeat in Redis')
      .option('--host-name <name>', 'the actor name of --actor (default: the host name)');
  cmd.option('--http <host:port>', `where to serve /metrics, /healthz and /readyz (overrides http.${part}; port 0 picks one)`);
  return cmd.action(async (flags: DaemonFlags & { http?: string; actor?: boolean; hostName?: string }) => {
    try {
      const extra: ConfigOverrides = flags.http === undefined ? {} : { http: { part, address: flags.http } };
      const actor = actorName(flags);
      if (actor !== undefined) extra.actor = actor;
      const { settings, log } = loadForDaemon(flags, `event-${part}`, extra);
      const { runDaemons } = await import('./run-daemons.js');
      result.code = await runDaemons([part], settings, log);
    } catch (err) {
      result.code = reportError(err, `event-${part}`);
    }
  });
}

/** The actor name of `--actor [--host-name NAME]`, or undefined without `--actor`. @throws {UsageError} for a name that cannot be one */
function actorName(flags: { actor?: boolean; hostName?: string }): string | undefined {
  if (!flags.actor) {
    if (flags.hostName !== undefined) throw new UsageError('--host-name names the actor of --actor; add --actor');
    return undefined;
  }
  const name = flags.hostName ?? hostname().split('.')[0]!;
  if (!ACTOR_NAME.test(name) || name === ALL_ACTORS)
    throw new UsageError(
      `actor name ${JSON.stringify(name)}: must be 1-64 letters, digits, ".", "_" or "-", and not "all"${flags.hostName === undefined ? ' (the host name; give --host-name)' : ''}`,
    );
  return name;
}
