import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ulid } from 'ulid';
import * as zmq from 'zeromq';
import { AuthError, EventValidationError, TimeoutError, UsageError } from '../errors.js';
import { curveClientOptions, type CurveClientKeys } from '../wire/curve.js';
import { splitEndpoints } from '../wire/endpoints.js';
import { watchHandshake } from '../wire/handshake.js';
import { RouterClient } from '../wire/router-client.js';
import { RouterRefusedError } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './common.js';
import type { FireWait } from './fire-wait.js';

interface FireFlags {
  data?: string;
  eventType: string;
  namespace: string;
  uri?: string;
  config?: string;
  serverKey?: string;
  cert?: string;
  zmqType: string;
  timeout: number;
  retries: number;
  id?: string;
  traceId?: string;
  parentEvent?: string;
  hops?: number;
  /** Seconds to wait for the handlers' final results; undefined without `--wait`. */
  wait?: number;
}

/** Read `-d`: JSON text, `@file`, or `-` for stdin. */
export function readPayload(value: string | undefined, stdin: () => string): unknown {
  if (value === undefined) return {};
  let text = value;
  let from = '--data';
  if (value === '-') {
    text = stdin();
    from = 'stdin';
  } else if (value.startsWith('@')) {
    from = value.slice(1);
    try {
      text = readFileSync(from, 'utf8');
    } catch (err) {
      throw new EventValidationError('invalid_json', `cannot read payload file ${from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EventValidationError('invalid_json', `payload from ${from} is not valid JSON: ${(err as Error).message}`);
  }
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got "${v}"`);
  return n;
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number >= 0, got "${v}"`);
  return n;
}

export function configureFireCommand(cmd: Command, result: { code: number }): Command {
  return cmd
    .description("Fire one event at the router (EventReactor's fire-event)")
    .option('-d, --data <json>', 'payload: JSON text, @file, or - for stdin (default {})')
    .addOption(new Option('-p, --payload <json>', 'same as --data').hideHelp())
    .requiredOption('-e, --event-type <type>', 'event type (required)')
    .option('-n, --namespace <ns>', 'namespace', 'local')
    .option(
      '-u, --uri <uri>',
      'router endpoint (REP for REQ, PULL for PUSH), or several separated by commas (REQ: the next after a timeout, with the same event id; PUSH: any that is up); default tcp://127.0.0.1:55055 (REQ) or :45454 (PUSH), or from -c',
    )
    .option('-c, --config <file>', "config.json: the router's endpoints, with security.curve this host's key pair, and for --wait the archive")
    .option('--server-key <file>', "CURVE: the router's public certificate (server.key)")
    .option('--cert <file>', "CURVE: this client's secret certificate (NAME.key_secret)")
    .option('-z, --zmq-type <type>', "REQ (wait for the router's reply) or PUSH (fire and forget)", 'REQ')
    .option('--timeout <seconds>', 'give up after this long without an answer', parseSeconds, 5)
    .option('--retries <n>', 'REQ only: try again this many times after a timeout, with the same event id', parseCount, 0)
    .option('--id <id>', 'event id (default: a new ULID, kept across retries)')
    .option('--trace-id <id>', 'trace id (default: the event id)')
    .option(
      '--parent-event <id>',
      'id of the event this one follows from; hops is one more than its own (EVENT_HOPS in a handler run, else 0), trace id its trace (EVENT_TRACE_ID)',
    )
    .option('--hops <n>', 'how many follow-ups away from a feeder this event is (the router refuses more than router.max_hops)', parseCount)
    .addOption(
      new Option(
        '--wait [seconds]',
        'REQ only: after the reply, wait this long until every handler the event runs has its final result (ok, or dead after its last attempt); print each as a JSON line on stdout (the event goes to stderr); exit 0 if all are ok, 1 if not, 75 on timeout. Reads the archive: needs -c or $EVENT_REACTOR_CONFIG',
      )
        .argParser(parseSeconds)
        .preset('60'),
    )
    .action(async (flags: FireFlags & { payload?: string }) => {
      result.code = await fire(flags);
    });
}

/**
 * trace_id, parent_event and hops of the event. A handler run has its event's EVENT_ID,
 * EVENT_TRACE_ID and EVENT_HOPS: a follow-up of that event fired from it (`fire-event
 * --parent-event "$EVENT_ID"`) joins its trace and counts one hop more, as ctx.fire does.
 */
function lineage(flags: FireFlags, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fromRun = flags.parentEvent !== undefined && env['EVENT_ID'] === flags.parentEvent;
  const traceId = flags.traceId ?? (fromRun ? env['EVENT_TRACE_ID'] : undefined);
  if (traceId) out['trace_id'] = traceId;
  if (flags.parentEvent) out['parent_event'] = flags.parentEvent;
  const parentHops = fromRun ? Number(env['EVENT_HOPS'] ?? 0) : 0;
  const hops = flags.hops ?? (flags.parentEvent ? (Number.isInteger(parentHops) && parentHops >= 0 ? parentHops : 0) + 1 : undefined);
  if (hops !== undefined) out['hops'] = hops;
  return out;
}

async function fire(flags: FireFlags & { payload?: string }): Promise<number> {
  const type = flags.zmqType.replace(/^zmq\./i, '').toUpperCase();
  if (type !== 'REQ' && type !== 'PUSH') {
    process.stderr.write(`fire-event: --zmq-type must be REQ or PUSH, got "${flags.zmqType}"\n`);
    return EXIT.USAGE;
  }
  let waitConfig: string | undefined;
  if (flags.wait !== undefined) {
    if (type === 'PUSH') {
      process.stderr.write('fire-event: --wait needs -z REQ: with PUSH no reply says the router took the event, so there is nothing to wait from\n');
      return EXIT.USAGE;
    }
    waitConfig = flags.config ?? (process.env['EVENT_REACTOR_CONFIG'] || undefined);
    if (waitConfig === undefined) {
      process.stderr.write("fire-event: --wait reads the handlers' results from the archive: it needs -c config.json or $EVENT_REACTOR_CONFIG\n");
      return EXIT.USAGE;
    }
  }
  let waiter: FireWait | undefined;
  try {
    const payload = readPayload(flags.data ?? flags.payload, () => readFileSync(0, 'utf8'));
    const event: Record<string, unknown> = { id: flags.id ?? ulid(), namespace: flags.namespace, event_type: flags.eventType, payload };
    Object.assign(event, lineage(flags, process.env));
    const timeoutMs = Math.round(flags.timeout * 1000);
    // Waiting reads the results where this config's stack writes them: its router is the one to fire at.
    const target = await resolveTarget(waitConfig === undefined ? flags : { ...flags, config: waitConfig }, type);
    if (type === 'PUSH') {
      await push(target.uri, JSON.stringify(event), timeoutMs, target.curve);
      process.stdout.write(`${JSON.stringify(event)}\n`);
      return EXIT.OK;
    }
    if (waitConfig !== undefined && flags.wait !== undefined) {
      const { FireWait } = await import('./fire-wait.js');
      waiter = await FireWait.open(waitConfig, flags.wait);
    }
    const client = new RouterClient({ uri: target.uri, timeoutMs, retries: flags.retries, curve: target.curve });
    let published;
    try {
      published = await client.send(event);
    } finally {
      client.close();
    }
    if (!waiter) {
      process.stdout.write(`${JSON.stringify(published)}\n`);
      return EXIT.OK;
    }
    // stdout holds the results alone, a JSON document a line; the event goes to stderr.
    process.stderr.write(`fire-event: published ${JSON.stringify(published)}\n`);
    return await waiter.report(published.id);
  } catch (err) {
    if (err instanceof RouterRefusedError) {
      process.stdout.write(`${JSON.stringify({ error: { code: err.reason, message: err.message } })}\n`);
      process.stderr.write(`fire-event: the router refused the event (${err.reason}): ${err.message}\n`);
      return EXIT.DATAERR;
    }
    return reportError(err, 'fire-event');
  } finally {
    await waiter?.close();
  }
}

/**
 * Where to send and with which keys: `--server-key` with `--cert`, else, with `-c`, the
 * config's endpoints and (under `security.curve`) this host's local pair.
 */
async function resolveTarget(flags: FireFlags, type: 'REQ' | 'PUSH'): Promise<{ uri: string; curve: CurveClientKeys | undefined }> {
  if ((flags.serverKey === undefined) !== (flags.cert === undefined)) {
    throw new UsageError("--server-key and --cert go together: the router's public certificate and this client's secret one");
  }
  let uri = flags.uri;
  let curve: CurveClientKeys | undefined;
  if (flags.config !== undefined) {
    const { loadConfig } = await import('../config/load.js');
    const { connectUri } = await import('../config/paths.js');
    const { settings } = loadConfig({ path: flags.config });
    uri ??= type === 'PUSH' ? connectUri(settings.router.pullBind) : settings.worker.routerUri;
    if (settings.security.curve && flags.serverKey === undefined) {
      const { localClientKeys } = await import('../security/key-files.js');
      curve = localClientKeys(settings.security.keysDir);
    }
  }
  if (flags.serverKey !== undefined && flags.cert !== undefined) {
    const { readCertificate, readKeyPair } = await import('../security/certs.js');
    curve = { serverKey: readCertificate(flags.serverKey).publicKey, ...readKeyPair(flags.cert) };
  }
  return { uri: uri ?? (type === 'PUSH' ? 'tcp://127.0.0.1:45454' : 'tcp://127.0.0.1:55055'), curve };
}

async function push(uri: string, text: string, timeoutMs: number, curve: CurveClientKeys | undefined): Promise<void> {
  const sock = new zmq.Push({ sendTimeout: timeoutMs, linger: timeoutMs, immediate: true, ...curveClientOptions(curve) });
  const refused = watchHandshake(sock, curve !== undefined);
  try {
    // Several routers (comma-separated): connected to all, the event goes to one that is up.
    for (const u of splitEndpoints(uri)) sock.connect(u);
    await sock.send(text);
  } catch (err) {
    const why = refused();
    if (why !== undefined) throw new AuthError(`the router at ${uri} refused the connection: ${why}`, { cause: err });
    throw new TimeoutError(`no router accepted the event at ${uri} within ${timeoutMs} ms`, { cause: err });
  } finally {
    sock.close();
  }
}
