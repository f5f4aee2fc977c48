import { z } from 'zod';
import { templateProblems } from './template.js';

/**
 * The keys an event-handlers.json entry of a built-in output driver adds to the common
 * ones (`driver`, `handler`, `timeout`, `retries`, `backoff`, `env`). Strings in them may
 * hold `{{event...}}` and `{{env.NAME}}` placeholders (see template.ts).
 */

/** A template: any JSON value whose placeholders are well formed. */
const template = z.unknown().superRefine((v, ctx) => {
  for (const p of templateProblems(v)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
});
const textTemplate = z.string().superRefine((v, ctx) => {
  for (const p of templateProblems(v)) ctx.addIssue({ code: 'custom', message: p.message });
});
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name');

/** `"driver": "webhook"`: `handler` is the URL (a template: `https://host/{{env.HOOK_PATH}}`). */
export const webhookOptionsSchema = z.strictObject({
  /** HTTP method. Default POST. */
  method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
  /** Request headers; values are templates: `{"Authorization": "Bearer {{env.TOKEN}}"}`. */
  headers: z.record(headerName, textTemplate).default({}),
  /** The JSON body. Default: the event (`"{{event}}"`). */
  body: template.default('{{event}}'),
});

/** `"driver": "amqp"`: `handler` is the exchange published to. */
export const amqpOptionsSchema = z.strictObject({
  /** Broker URL, a template: default `{{env.AMQP_URL}}` (put it in the entry's `env`, as a secret when it holds a password). */
  url: textTemplate.default('{{env.AMQP_URL}}'),
  /** Routing key, a template. Default `{{event.event_type}}`. */
  routing_key: textTemplate.default('{{event.event_type}}'),
  /** The JSON body. Default: the event. */
  body: template.default('{{event}}'),
  /** Declare the exchange with this type (durable) before publishing; without it the exchange must exist. */
  exchange_type: z.enum(['direct', 'topic', 'fanout', 'headers']).optional(),
  /** Persistent messages (delivery mode 2). Default true. */
  persistent: z.boolean().default(true),
  /** Fail the run when no queue is bound to take the message. Default false. */
  mandatory: z.boolean().default(false),
});

/** Each output driver's extra keys, by driver name. */
export const OUTPUT_OPTIONS = { webhook: webhookOptionsSchema, amqp: amqpOptionsSchema } as const;
