import type { Command } from 'commander';
import { ulid } from 'ulid';
import type { Logger } from '../logger.js';
import type { ReactorSettings } from '../config/settings.js';
import { loadHandlersFile } from '../config/handlers-file.js';
import { MongoArchive } from '../archive/mongo-archive.js';
import { RouterClient } from '../wire/router-client.js';
import { startLocalServices } from '../devstack/services.js';
import { startRouterDaemon } from '../daemons/router-daemon.js';
import { startSubDaemon } from '../daemons/sub-daemon.js';
import { startWorkerDaemon } from '../daemons/worker-daemon.js';
import { addDaemonOptions, loadForDaemon, parsePositiveInt, reportError, type DaemonFlags } from './common.js';
import { EXIT } from './exit-codes.js';
import { runDaemons } from './run-daemons.js';

interface UpFlags extends DaemonFlags {
  localServices?: boolean;
  demo?: boolean;
}

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
  let stopServices: (() => Promise<void>) | undefined;
  if (flags.localServices) {
    const services = await startLocalServices({ redisUrl: flags.redisUrl ?? process.env['REDIS_URL'], mongoUrl: flags.mongoUrl ?? process.env['MONGO_URL'], log });
    stopServices = () => services.stop();
    settings.redisUrl = services.redisUrl;
    settings.mongo = { ...settings.mongo, url: services.mongoUrl };
  }
  try {
    if (!flags.demo) return await runDaemons(['router', 'sub', 'worker'], settings, log, stopServices);
    return await demo(settings, log, stopServices);
  } catch (err) {
    await stopServices?.();
    throw err;
  }
}

/** Start everything, fire `local:zmq.test`, wait for its results, print them, stop. */
async function demo(settings: ReactorSettings, log: Logger, stopServices: (() => Promise<void>) | undefined): Promise<number> {
  const quiet = log.child({}, { level: 'warn' });
  const router = await startRouterDaemon(settings, quiet);
  const sub = await startSubDaemon(settings, quiet);
  const worker = await startWorkerDaemon(settings, quiet);
  const archive = await MongoArchive.connect({ url: settings.mongo.url, database: settings.mongo.database, log: quiet });
  const client = new RouterClient({ uri: router.endpoints.rep[0] ?? settings.worker.routerUri ?? 'tcp://127.0.0.1:55055', timeoutMs: 5000 });
  try {
    const key = 'local:zmq.test';
    const expected = loadHandlersFile(settings.handlersFile).table.get(key)?.length ?? 0;
    const sent = { id: ulid(), namespace: 'local', event_type: 'zmq.test', payload: { message: 'hello from event-reactor', host: process.env['HOSTNAME'] ?? 'localhost' } };
    out(`\n==> fire-event -e zmq.test -n local -d '${JSON.stringify(sent.payload)}'`);
    const published = await client.send(sent);
    out(JSON.stringify(published));
    out(`\n==> waiting for ${expected} handler result(s) for ${key} in MongoDB (${settings.mongo.database}.results)`);
    const deadline = Date.now() + 60_000;
    let results = await archive.results.find({ event_id: sent.id }).toArray();
    while (results.length < expected && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      results = await archive.results.find({ event_id: sent.id }).toArray();
    }
    let failed = results.length < expected;
    for (const r of results) {
      if (r.status !== 'ok') failed = true;
      out(`\n--- ${r.driver} handler "${r.handler}": ${r.status} in ${r.duration_ms} ms`);
      out(typeof r.data === 'string' ? r.data.trimEnd() : JSON.stringify(r.data, null, 2));
      if (r.error) out(`error: ${r.error}`);
    }
    const archived = await archive.events.findOne({ _id: sent.id as never });
    out(`\n==> archived event (${settings.mongo.database}.events):`);
    out(JSON.stringify(archived, null, 2));
    if (results.length < expected) out(`\nonly ${results.length} of ${expected} results arrived within 60 s`);
    return failed ? EXIT.FAILURE : EXIT.OK;
  } finally {
    client.close();
    await router.close();
    await sub.close();
    await worker.close();
    await archive.close();
    await stopServices?.();
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}
