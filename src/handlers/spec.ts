import { createHash } from 'node:crypto';
import type { EnvEntries } from './handler-env.js';

/**
 * `shell` and `tsfunc` run the project's handlers, `pyfunc` EventReactor's Python ones;
 * `webhook` and `amqp` are built-in outputs.
 */
export type DriverName = 'shell' | 'tsfunc' | 'pyfunc' | 'webhook' | 'amqp';

/**
 * An entry's queue policy (`concurrency`, `rate`, `order_by`, `breaker`; `exclusive` is
 * concurrency 1), compiled by src/rules/entry-policy.ts. JSON-friendly: it travels in the
 * job's copy of the entry.
 */
export interface EntryPolicy {
  /** At most this many runs at once across all workers (`exclusive`: 1). */
  concurrency?: number;
  /** At most `max` runs started per `perS` seconds across all workers; the others wait. */
  rate?: { max: number; perS: number };
  /** Events with the same value at this path run one after another, in the order they were enqueued. */
  orderBy?: string;
  /** `failures` failed runs within `withinS` seconds open the breaker: the queue is paused for `openForS` seconds. */
  breaker?: { failures: number; withinS: number; openForS: number };
}

/** A validated handler from event-handlers.json. */
export interface HandlerSpec {
  /** Stable id: a hash of driver and handler string, so editing other entries keeps it. */
  id: string;
  /** The `namespace:event_type` key it is registered under. */
  key: string;
  driver: DriverName;
  /**
   * What to run: the entry's `handler` string in event-handlers.json. A command line for
   * `shell` (split into argv without a shell), `module.function` for `tsfunc`.
   */
  command: string;
  /** Run one at a time across all workers. */
  exclusive: boolean;
  /** Per-handler timeout in ms; undefined = the worker's default. */
  timeoutMs?: number;
  /** Extra attempts after a failure; undefined = the worker's default. */
  retries?: number;
  /** Backoff base delay in ms; undefined = the worker's default. */
  backoffMs?: number;
  /** Variables added to the handler's environment; `{"secret": "NAME"}` values come from the secrets directory. */
  env?: EnvEntries;
  /** Queue policy: `concurrency` (1 when exclusive), `rate`, `order_by`, `breaker`. Not part of the id: changing it keeps the entry's queue. */
  policy?: EntryPolicy;
  /** `"target"`: the actor it runs on (a name, a `{{path}}` template, or `all`); undefined = any worker. */
  target?: string;
  /** An output driver's own keys (`webhook`: method, headers, body; `amqp`: url, routing_key...), validated with its schema. */
  options?: Record<string, unknown>;
}

/** Stable id of an entry. An output driver's options count too: two webhooks to one URL with two bodies are two handlers. */
export function handlerId(driver: string, handler: string, options?: Record<string, unknown>): string {
  const hash = createHash('sha1').update(`${driver}\0${handler}`);
  if (options !== undefined) hash.update(`\0${JSON.stringify(options)}`);
  return hash.digest('hex').slice(0, 16);
}
