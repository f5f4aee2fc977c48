import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { ulid } from 'ulid';
import * as zmq from 'zeromq';
import { EventValidationError, TimeoutError } from '../errors.js';
import { RouterClient } from '../wire/router-client.js';
import { RouterRefusedError } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './common.js';

interface FireFlags {
  data?: string;
  eventType: string;
  namespace: string;
  uri: string;
  zmqType: string;
  timeout: number;
  retries: number;
  id?: string;
  traceId?: string;
  parentEvent?: string;
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
  if (!Number.isFinite(n) || n <= 0) throw new Error(`expected a positive number of seconds, got "${v}"`);
  return n;
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a whole number >= 0, got "${v}"`);
  return n;
}

export function configureFireCommand(cmd: Command, result: { code: number }): Command {
  return cmd
    .description("Fire one event at the router (EventReactor's fire-event)")
    .option('-d, --data <json>', 'payload: JSON text, @file, or - for stdin (default {})')
    .addOption(new Option('-p, --payload <json>', 'same as --data').hideHelp())
    .requiredOption('-e, --event-type <type>', 'event type (required)')
    .option('-n, --namespace <ns>', 'namespace', 'local')
    .option('-u, --uri <uri>', 'router endpoint (REP for REQ, PULL for PUSH)', 'tcp://127.0.0.1:55055')
    .option('-z, --zmq-type <type>', "REQ (wait for the router's reply) or PUSH (fire and forget)", 'REQ')
    .option('--timeout <seconds>', 'give up after this long without an answer', parseSeconds, 5)
    .option('--retries <n>', 'REQ only: try again this many times after a timeout, with the same event id', parseCount, 0)
    .option('--id <id>', 'event id (default: a new ULID, kept across retries)')
    .option('--trace-id <id>', 'trace id (default: the event id)')
    .option('--parent-event <id>', 'id of the event this one follows from')
    .action(async (flags: FireFlags & { payload?: string }) => {
      result.code = await fire(flags);
    });
}

async function fire(flags: FireFlags & { payload?: string }): Promise<number> {
  const type = flags.zmqType.replace(/^zmq\./i, '').toUpperCase();
  if (type !== 'REQ' && type !== 'PUSH') {
    process.stderr.write(`fire-event: --zmq-type must be REQ or PUSH, got "${flags.zmqType}"\n`);
    return EXIT.USAGE;
  }
  try {
    const payload = readPayload(flags.data ?? flags.payload, () => readFileSync(0, 'utf8'));
    const event: Record<string, unknown> = { id: flags.id ?? ulid(), namespace: flags.namespace, event_type: flags.eventType, payload };
    if (flags.traceId) event['trace_id'] = flags.traceId;
    if (flags.parentEvent) event['parent_event'] = flags.parentEvent;
    const timeoutMs = Math.round(flags.timeout * 1000);
    if (type === 'PUSH') {
      await push(flags.uri, JSON.stringify(event), timeoutMs);
      process.stdout.write(`${JSON.stringify(event)}\n`);
      return EXIT.OK;
    }
    const client = new RouterClient({ uri: flags.uri, timeoutMs, retries: flags.retries });
    try {
      const published = await client.send(event);
      process.stdout.write(`${JSON.stringify(published)}\n`);
      return EXIT.OK;
    } finally {
      client.close();
    }
  } catch (err) {
    if (err instanceof RouterRefusedError) {
      process.stdout.write(`${JSON.stringify({ error: { code: err.reason, message: err.message } })}\n`);
      process.stderr.write(`fire-event: the router refused the event (${err.reason}): ${err.message}\n`);
      return EXIT.DATAERR;
    }
    return reportError(err, 'fire-event');
  }
}

async function push(uri: string, text: string, timeoutMs: number): Promise<void> {
  const sock = new zmq.Push({ sendTimeout: timeoutMs, linger: timeoutMs, immediate: true });
  try {
    sock.connect(uri);
    await sock.send(text);
  } catch (err) {
    throw new TimeoutError(`no router accepted the event at ${uri} within ${timeoutMs} ms`, { cause: err });
  } finally {
    sock.close();
  }
}
