import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { TransportError, coerceError } from '../errors.js';
import type { AmqpInputConfig } from '../config/inputs.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { retryDelay } from '../lifecycle/retry-delay.js';
import { redact } from '../redact.js';
import { eventFromAmqp } from './amqp-message.js';
import { RouterUnavailableError } from './forwarder.js';
import { pause, refusalReason, type Input, type InputContext } from './input.js';

/** How long a shutdown waits for messages being forwarded before it lets them go unacknowledged. */
const DRAIN_MS = 2000;

/**
 * AMQPInput, EventReactor's RabbitMQ consumer: `queue_name` (declared durable when
 * missing) is bound to each exchange of `bindings` with `routing_key`, and consumed with
 * manual acknowledgements and at most `prefetch` messages unacknowledged. Each message is
 * made an event (amqp-message.ts) and acknowledged only once the router has replied; while
 * the router does not answer, the unacknowledged messages fill the prefetch window and
 * the broker stops delivering (nothing is taken that is not forwarded). A message that
 * cannot be an event, or that the router refuses, is published to `dead_letter_exchange`
 * (with its routing key and an `x-refused-reason` header) and acknowledged once the
 * broker confirmed it; without one it is rejected without requeue. The binding exchanges
 * (and the dead-letter exchange) are the publishers': they are never declared here, and a
 * missing one is waited for. A lost connection is reopened (1 s, doubling, at most 30 s);
 * its unacknowledged messages are redelivered by the broker.
 */
export class AmqpInput implements Input {
  readonly name: string;
  readonly #ctx: InputContext;
  readonly #config: AmqpInputConfig;
  readonly #closing = new AbortController();
  readonly #inflight = new Set<Promise<void>>();
  #model: ChannelModel | undefined;
  #consumer: { channel: Channel; tag: string } | undefined;
  #consuming = false;
  #problem = 'not connected yet';
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(ctx: InputContext, config: AmqpInputConfig) {
    this.name = ctx.name;
    this.#ctx = ctx;
    this.#config = config;
  }

  start(): Promise<void> {
    this.#loop = this.#run();
    return Promise.resolve();
  }

  ready(): void {
    if (!this.#consuming) throw new TransportError(`not consuming ${this.#config.queue_name} at ${redact(this.#config.url)}: ${this.#problem}`);
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      // Stop deliveries first, then give what is being forwarded a moment to be
      // acknowledged; what is left is let go unacknowledged (the broker redelivers it).
      const consumer = this.#consumer;
      this.#consumer = undefined;
      await consumer?.channel.cancel(consumer.tag).catch(() => undefined);
      await settlesWithin(Promise.allSettled([...this.#inflight]), DRAIN_MS);
      this.#closing.abort();
      await this.#model?.close().catch(() => undefined);
      await this.#loop;
    })();
    return this.#closed;
  }

  async #run(): Promise<void> {
    for (let attempt = 1; !this.#closing.signal.aborted; attempt++) {
      try {
        await this.#session();
        attempt = 0;
      } catch (err) {
        this.#problem = coerceError(err).message;
        if (!this.#closing.signal.aborted)
          this.#ctx.log.warn({ err: this.#problem, url: redact(this.#config.url), attempt }, 'AMQP connection failed; retrying');
      }
      this.#consuming = false;
      if (!this.#closing.signal.aborted) await pause(Math.min(30_000, retryDelay(attempt) * 5), this.#closing.signal);
    }
  }

  /** One connection: set up, consume until it closes. */
  async #session(): Promise<void> {
    const amqp = await import('amqplib');
    const c = this.#config;
    const model = await amqp.connect(c.url, { timeout: 10_000 });
    this.#model = model;
    const closed = new Promise<Error | undefined>((resolve) => model.once('close', resolve));
    model.on('error', (err: Error) => this.#ctx.log.warn({ err: err.message }, 'AMQP connection error'));
    try {
      for (const exchange of [...c.bindings, ...(c.dead_letter_exchange ? [c.dead_letter_exchange] : [])]) await mustExist(model, exchange);
      const channel = await model.createChannel();
      channel.on('error', (err: Error) => this.#ctx.log.warn({ err: err.message }, 'AMQP channel closed by the broker'));
      channel.on('close', () => void model.close().catch(() => undefined));
      await channel.assertQueue(c.queue_name, { durable: c.durable });
      for (const exchange of c.bindings) await channel.bindQueue(c.queue_name, exchange, c.routing_key);
      await channel.prefetch(c.prefetch);
      const dlx = c.dead_letter_exchange ? await model.createConfirmChannel() : undefined;
      if (this.#closing.signal.aborted) return;
      const { consumerTag } = await channel.consume(c.queue_name, (msg) => this.#onMessage(channel, dlx, msg), { noAck: false });
      this.#consumer = { channel, tag: consumerTag };
      this.#consuming = true;
      this.#ctx.log.info({ queue: c.queue_name, bindings: c.bindings, routingKey: c.routing_key, prefetch: c.prefetch }, 'consuming');
      const err = await closed;
      if (!this.#closing.signal.aborted) throw new TransportError(`connection closed${err ? `: ${err.message}` : ''}`);
    } finally {
      this.#consuming = false;
      this.#consumer = undefined;
      if (this.#model === model) this.#model = undefined;
      await model.close().catch(() => undefined);
    }
  }

  #onMessage(channel: Channel, dlx: ConfirmChannel | undefined, msg: ConsumeMessage | null): void {
    if (msg === null) {
      if (this.#closing.signal.aborted || this.#consumer === undefined) return;
      // The broker cancelled the consumer (queue deleted): start over.
      this.#problem = `the broker cancelled the consumer of ${this.#config.queue_name}`;
      void this.#model?.close().catch(() => undefined);
      return;
    }
    const work = this.#handle(channel, dlx, msg).finally(() => this.#inflight.delete(work));
    this.#inflight.add(work);
  }

  async #handle(channel: Channel, dlx: ConfirmChannel | undefined, msg: ConsumeMessage): Promise<void> {
    const pipe = this.#ctx.pipe;
    pipe.received();
    const messageId: unknown = msg.properties.messageId;
    const decision = eventFromAmqp(msg.content, {
      routingKey: msg.fields.routingKey,
      exchange: msg.fields.exchange,
      messageId: typeof messageId === 'string' ? messageId : undefined,
    });
    if ('refused' in decision) {
      pipe.refused(decision.refused, decision.message, { routingKey: msg.fields.routingKey });
      return this.#deadLetter(channel, dlx, msg, decision.refused);
    }
    try {
      await pipe.forward(decision.event, { signal: this.#closing.signal });
    } catch (err) {
      const reason = refusalReason(err);
      if (reason !== undefined) return this.#deadLetter(channel, dlx, msg, reason);
      // Shutting down, or the channel went: the broker redelivers it.
      if (!(err instanceof RouterUnavailableError)) this.#ctx.log.error({ err: coerceError(err) }, 'forwarding failed');
      return;
    }
    ack(channel, msg);
  }

  async #deadLetter(channel: Channel, dlx: ConfirmChannel | undefined, msg: ConsumeMessage, reason: string): Promise<void> {
    if (!dlx) {
      try {
        channel.nack(msg, false, false);
      } catch {
        // channel gone: redelivered
      }
      return;
    }
    try {
      await new Promise<void>((resolve, reject) => {
        const headers: Record<string, unknown> = { ...msg.properties.headers, 'x-refused-reason': reason, 'x-refused-by': `event-reactor input ${this.name}` };
        dlx.publish(this.#config.dead_letter_exchange!, msg.fields.routingKey, msg.content, { ...msg.properties, headers, persistent: true }, (err: unknown) =>
          err ? reject(err instanceof Error ? err : new TransportError('dead-letter exchange refused the message')) : resolve(),
        );
      });
    } catch (err) {
      // Not dead-lettered: it stays unacknowledged and comes back after a reconnect.
      this.#ctx.log.error({ err: coerceError(err).message }, 'could not dead-letter a refused message');
      return;
    }
    ack(channel, msg);
  }
}

function ack(channel: Channel, msg: ConsumeMessage): void {
  try {
    channel.ack(msg);
  } catch {
    // The channel closed after the router replied: the broker redelivers the message, the
    // archive keeps one copy when it has an id (message_id).
  }
}

/** Resolve when `exchange` exists, without declaring it (a failed check closes the channel it ran on). */
async function mustExist(model: ChannelModel, exchange: string): Promise<void> {
  const ch = await model.createChannel();
  ch.on('error', () => undefined);
  try {
    await ch.checkExchange(exchange);
  } catch (err) {
    throw new TransportError(`exchange "${exchange}" does not exist (yet): its publishers declare it`, { cause: err });
  } finally {
    await ch.close().catch(() => undefined);
  }
}
