import type { Command } from 'commander';
import { ulid } from 'ulid';
import type { Logger } from '../logger.js';
import type { ReactorSettings } from '../config/settings.js';
import { CloserStack } from '../lifecycle/closers.js';
import type { RouterDaemon } from '../daemons/router-daemon.js';
import type { RunningDaemons } from '../daemons/start-daemons.js';
import { addDaemonOptions, loadForDaemon, parsePositiveInt, reportError, type DaemonFlags } from './common.js';
import { EXIT } from './exit-codes.js';

interface UpFlags extends DaemonFlags {
  localServices?: boolean;
  demo?: boolean;
}

/** How long `--demo` waits for the handlers' results. */
const DEMO_WAIT_MS = 60_000;

export function configureUpCommand(cmd: Command, result: { code: number }): Command {
  addDaemonOptions(cmd.description('Run router, subscriber and worker in one process (quickstart)'));
  return cmd
    .option('--concurrency <n>', 'worker jobs run at once', parsePositiveInt)
    .option('--local-services', 'start Redis and FerretDB (or mongod) locally unless --redis-url/$REDIS_URL and --mongo-url/$MONGO_URL are given')
    .option('--demo', 'fire a sample event, show the handler results and the archived event, then stop')
    .action(async (flags: UpFlags) => {
      try {
        result.code = await up(flags);
      } catch (err) {
        result.code = reportError(err, 'event-reactor up');
      }
    });
}

async function up(flags: UpFlags): Promise<number> {
  // Configuration first: a mistake is reported before any server is started.
  const { settings, log } = loadForDaemon(flags, 'event-reactor');
  // The same closer stack as the daemons' own: local servers at the bottom, closed last.
  const closers = new CloserStack(log);
  let killServices: (() => void) | undefined;
  if (flags.localServices) {
    const { startLocalServices } = await import('../devstack/services.js');
    const services = await startLocalServices({
      redisUrl: flags.redisUrl ?? process.env['REDIS_URL'],
      mongoUrl: flags.mongoUrl ?? process.env['MONGO_URL'],
      log,
    });
    closers.push('local services', () => services.stop());
    settings.redisUrl = services.redisUrl;
    settings.mongo = { ...settings.mongo, url: services.mongoUrl };
    if (services.started.length > 0) {
      // status, dlq and events run against this config find the servers through this file.
      const { writeLocalState, removeLocalState } = await import('../devstack/local-state.js');
      const file = writeLocalState({
        config: settings.configFile,
        pid: process.pid,
        redisUrl: services.redisUrl,
        mongoUrl: services.mongoUrl,
        startedAt: new Date().toISOString(),
      });
      log.info({ file }, 'local services recorded for status, dlq and events');
      closers.push('local services state', () => removeLocalState(settings.configFile));
      killServices = () => {
        services.killNow();
        removeLocalState(settings.configFile);
      };
    }
  }
  const parts = ['router', 'sub', 'worker'] as const;
  const { runDaemons } = await import('./run-daemons.js');
  if (!flags.demo) return runDaemons(parts, settings, log, { closers, ...(killServices ? { onForcedExit: killServices } : {}) });
  const { startDaemons } = await import('../daemons/start-daemons.js');
  const running = await startDaemons(parts, settings, log.child({}, { level: 'warn' }), closers);
  try {
    return await demo(running, settings, log);
  } finally {
    await running.close();
  }
}

/** Fire `local:zmq.test`, wait for its results, print them and the archived event. */
async function demo(running: RunningDaemons, settings: ReactorSettings, log: Logger): Promise<number> {
  const { RouterClient } = await import('../wire/router-client.js');
  const { MongoArchive } = await import('../archive/mongo-archive.js');
  const { loadHandlersFile } = await import('../config/handlers-file.js');
  const router = running.daemons.find((d): d is RouterDaemon => d.name === 'router');
  const archive = await MongoArchive.connect({
    ...settings.mongo,
    log: log.child({}, { level: 'warn' }),
    ensureIndexes: false,
  });
  const client = new RouterClient({ uri: router?.endpoints.rep[0] ?? settings.worker.routerUri ?? 'tcp://127.0.0.1:55055', timeoutMs: 5000 });
  try {
    const key = 'local:zmq.test';
    const expected = loadHandlersFile(settings.handlersFile).table.get(key)?.length ?? 0;
    const sent = {
      id: ulid(),
      namespace: 'local',
      event_type: 'zmq.test',
      payload: { message: 'hello from event-reactor', host: process.env['HOSTNAME'] ?? 'localhost' },
    };
    out(`\n==> fire-event -e zmq.test -n local -d '${JSON.stringify(sent.payload)}'`);
    out(JSON.stringify(await client.send(sent)));
    out(`\n==> waiting for ${expected} handler result(s) for ${key} in MongoDB (${settings.mongo.database}.results)`);
    const deadline = Date.now() + DEMO_WAIT_MS;
    let results = await archive.resultsForEvent(sent.id);
    while (results.length < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      results = await archive.resultsForEvent(sent.id);
    }
    let failed = results.length < expected;
    for (const r of results) {
      if (r.status !== 'ok') failed = true;
      out(`\n--- ${r.driver} handler "${r.handler}": ${r.status} in ${r.duration_ms} ms`);
      out(typeof r.data === 'string' ? r.data.trimEnd() : JSON.stringify(r.data, null, 2));
      if (r.error) out(`error: ${r.error}`);
    }
    out(`\n==> archived event (${settings.mongo.database}.events):`);
    out(JSON.stringify(await archive.getEvent(sent.id), null, 2));
    if (results.length < expected) out(`\nonly ${results.length} of ${expected} results arrived within ${DEMO_WAIT_MS / 1000} s`);
    return failed ? EXIT.FAILURE : EXIT.OK;
  } finally {
    client.close();
    await archive.close();
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
