import { randomUUID } from 'node:crypto';
import type { ChannelModel, ConfirmChannel, Message } from 'amqplib';
import { HandlerRefusedError, HandlerTimeoutError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import { redact } from '../redact.js';
import { refused, type HandlerDriver, type RunContext, type RunOutcome } from './driver.js';
import { amqpOptionsSchema } from './output-options.js';
import type { HandlerSpec } from './spec.js';
import { render, renderText } from './template.js';

/** How long a connection is given to open, in ms (the run's timeout applies too). */
const CONNECT_TIMEOUT_MS = 10_000;

interface Link {
  model: ChannelModel;
  channel: ConfirmChannel;
  /** Messages returned as unroutable, by publish id. */
  returned: Map<string, (m: Message) => void>;
  /** Exchanges declared on this connection. */
  declared: Set<string>;
  /** Why the broker closed the channel (a missing exchange, a refused declaration). */
  error?: Error;
}

/**
 * `"driver": "amqp"`: publishes the event (or the entry's `body` template) as JSON to the
 * exchange named by `handler`, with the entry's `routing_key` (default the event type),
 * on a broker at the entry's `url` (default `{{env.AMQP_URL}}`: put it in `env`, as a
 * secret when it holds a password). A run is `ok` once the broker confirmed the message
 * (publisher confirms); with `mandatory`, a message no queue takes fails the run. The
 * message carries `message_id` = event id (a run is retried by the handler's policy: at
 * least once), `type` = event type, `content_type` application/json. One connection per
 * broker URL, opened on first use (amqplib loaded then) and kept.
 */
export class AmqpDriver implements HandlerDriver {
  readonly #links = new Map<string, Promise<Link>>();
  #closed = false;

  async run(spec: HandlerSpec, event: ReactorEvent, ctx: RunContext): Promise<RunOutcome> {
    let url: string;
    let routingKey: string;
    let body: Buffer;
    let o;
    try {
      o = amqpOptionsSchema.parse(spec.options ?? {});
      const scope = { event, env: ctx.env };
      url = renderText(o.url, scope);
      routingKey = renderText(o.routing_key, scope);
      body = Buffer.from(JSON.stringify(render(o.body, scope)));
    } catch (err) {
      return refused(err instanceof HandlerRefusedError ? err : new HandlerRefusedError(`amqp: ${(err as Error).message}`));
    }
    if (this.#closed) return refused(new HandlerRefusedError('the amqp driver is closed'));
    const exchange = spec.command;
    const timeout = AbortSignal.timeout(ctx.timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    let link: Link | undefined;
    try {
      link = await abortable(this.#link(url), signal);
      if (o.exchange_type && !link.declared.has(exchange)) {
        await abortable(link.channel.assertExchange(exchange, o.exchange_type, { durable: true }), signal);
        link.declared.add(exchange);
      }
      const publishId = randomUUID();
      let returned: Message | undefined;
      const { channel, returned: returns } = link;
      if (o.mandatory) returns.set(publishId, (m) => (returned = m));
      try {
        await abortable(
          new Promise<void>((resolve, reject) => {
            channel.publish(
              exchange,
              routingKey,
              body,
              {
                persistent: o.persistent,
                mandatory: o.mandatory,
                contentType: 'application/json',
                messageId: event.id,
                type: event.event_type,
                timestamp: Math.floor(Date.now() / 1000),
                appId: 'event-reactor',
                headers: { 'x-publish-id': publishId },
              },
              (err: unknown) => (err ? reject(err instanceof Error ? err : new Error('the broker refused the message (nack)')) : resolve()),
            );
          }),
          signal,
        );
      } finally {
        returns.delete(publishId);
      }
      const data = { exchange, routing_key: routingKey, bytes: body.length };
      if (returned) return { status: 'error', error: `amqp: no queue took the message (${replyText(returned)})`, errorCode: 'ERR_HANDLER', data };
      return { status: 'ok', code: 0, data };
    } catch (err) {
      if (timeout.aborted) {
        const e = new HandlerTimeoutError(ctx.timeoutMs);
        return { status: 'timeout', error: `${e.message}; not confirmed by the broker`, errorCode: e.code, data: null };
      }
      const why = link?.error?.message ?? (err as Error).message;
      return { status: 'error', error: `amqp publish to ${exchange} at ${redact(url)} failed: ${why}`, errorCode: 'ERR_HANDLER', data: null };
    }
  }

  /** Close every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map(async (l) => (await l.catch(() => undefined))?.model.close().catch(() => undefined)));
  }

  #link(url: string): Promise<Link> {
    let link = this.#links.get(url);
    if (!link) {
      link = this.#open(url);
      this.#links.set(url, link);
      // A failed attempt is not kept: the next run tries again.
      link.catch(() => this.#links.get(url) === link && this.#links.delete(url));
    }
    return link;
  }

  async #open(url: string): Promise<Link> {
    const amqp = await import('amqplib');
    const model = await amqp.connect(url, { timeout: CONNECT_TIMEOUT_MS });
    const mine = this.#links.get(url);
    // Only this connection's own entry: a newer one may have replaced it by the time it closes.
    const forget = (): void => void (this.#links.get(url) === mine && this.#links.delete(url));
    model.on('error', forget);
    model.on('close', forget);
    try {
      const channel = await model.createConfirmChannel();
      const link: Link = { model, channel, returned: new Map(), declared: new Set() };
      channel.on('error', (err: Error) => (link.error = err));
      channel.on('close', () => {
        forget();
        void model.close().catch(() => undefined);
      });
      channel.on('return', (m: Message) => {
        const id: unknown = m.properties.headers?.['x-publish-id'];
        if (typeof id === 'string') link.returned.get(id)?.(m);
      });
      return link;
    } catch (err) {
      await model.close().catch(() => undefined);
      throw err;
    }
  }
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** The broker's reason for returning a message (`NO_ROUTE`). */
function replyText(m: Message): string {
  const text = (m.fields as { replyText?: unknown }).replyText;
  return typeof text === 'string' ? text : 'unroutable';
}
