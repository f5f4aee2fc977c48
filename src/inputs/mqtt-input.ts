import type { IPublishPacket, MqttClient } from 'mqtt';
import { TransportError, coerceError } from '../errors.js';
import type { MqttInputConfig } from '../config/inputs.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { redact } from '../redact.js';
import { RouterUnavailableError } from './forwarder.js';
import { refusalReason, type Input, type InputContext } from './input.js';
import { readSecretFile } from '../security/secret-file.js';

/** How long a shutdown waits for the message being forwarded before it lets it go unacknowledged. */
const DRAIN_MS = 2000;

/**
 * MQTTInput: subscribes to `topics` on a persistent session (`clean: false`, a stable
 * `client_id`), so the broker keeps QoS 1 and 2 messages while the daemon is away.
 * `event_type` is the topic with `/` made `.`, `payload` the JSON body (else its text),
 * and `topic` the topic as it is.
 *
 * Acknowledgement: mqtt.js hands messages to `handleMessage` one at a time and sends the
 * PUBACK (QoS 1; PUBCOMP for QoS 2) only when it calls back; here it calls back once the
 * router has replied. While the router does not answer, the message waits, mqtt.js reads
 * nothing more and the broker holds the rest (its in-flight window is full): nothing is
 * taken that is not forwarded. If the connection is replaced meanwhile (its keepalive
 * went unanswered), the message is not acknowledged on the new one: the broker redelivers
 * it, and it is forwarded again (at least once). A message the router refuses is
 * acknowledged (it would be refused again) and counted. QoS 0 messages are never
 * redelivered: one received while the daemon stops is lost.
 */
export class MqttInput implements Input {
  readonly name: string;
  readonly #ctx: InputContext;
  readonly #config: MqttInputConfig & { client_id: string };
  readonly #at: string;
  readonly #closing = new AbortController();
  readonly #inflight = new Set<Promise<void>>();
  #client: MqttClient | undefined;
  #problem = 'not connected yet';
  #closed: Promise<void> | undefined;

  constructor(ctx: InputContext, config: MqttInputConfig & { client_id: string }, at: string) {
    this.name = ctx.name;
    this.#ctx = ctx;
    this.#config = config;
    this.#at = at;
  }

  async start(): Promise<void> {
    const c = this.#config;
    const password = c.password_file === undefined ? undefined : readSecretFile(c.password_file, `${this.#at}.config.password_file`);
    const mqtt = await import('mqtt');
    const client = mqtt.connect(c.url, {
      clientId: c.client_id,
      clean: false,
      keepalive: c.keepalive,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      protocolVersion: 4,
      ...(c.username === undefined ? {} : { username: c.username }),
      ...(password === undefined ? {} : { password }),
    });
    client.handleMessage = (packet, done) => this.#onMessage(client, packet, done);
    client.on('connect', (connack) => {
      this.#problem = 'subscribing';
      client.subscribe(
        c.topics.map((t) => t),
        { qos: c.qos },
        (err, granted) => {
          if (err) {
            this.#problem = `subscribe failed: ${err.message}`;
            this.#ctx.log.error({ err: err.message }, 'subscribe failed');
            return;
          }
          const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
          if (refused.length > 0) {
            this.#problem = `the broker refused the subscription to ${refused.join(', ')}`;
            this.#ctx.log.error({ topics: refused }, 'subscription refused');
            return;
          }
          this.#problem = '';
          this.#ctx.log.info({ topics: c.topics, qos: c.qos, clientId: c.client_id, sessionPresent: connack.sessionPresent }, 'subscribed');
        },
      );
    });
    client.on('close', () => {
      if (this.#problem === '') this.#problem = 'connection lost; reconnecting';
    });
    client.on('error', (err) => {
      this.#problem = err.message;
      this.#ctx.log.warn({ err: err.message, url: redact(c.url) }, 'MQTT error');
    });
    this.#client = client;
  }

  ready(): void {
    if (!this.#client?.connected) throw new TransportError(`not connected to ${redact(this.#config.url)}: ${this.#problem || 'reconnecting'}`);
    if (this.#problem !== '') throw new TransportError(this.#problem);
  }

  /** Stop taking messages; the one being forwarded gets a moment, then is let go unacknowledged. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const client = this.#client;
      if (!client) return;
      await settlesWithin(Promise.allSettled([...this.#inflight]), DRAIN_MS);
      this.#closing.abort();
      await client.endAsync(true).catch(() => undefined);
    })();
    return this.#closed;
  }

  #onMessage(client: MqttClient, packet: IPublishPacket, done: (err?: Error) => void): void {
    const stream = client.stream;
    const work = this.#forward(packet).then(
      (ack) => {
        // Acknowledge only on the connection the message came on: a PUBACK on a new one
        // could name another message.
        if (ack && client.stream === stream && !this.#closing.signal.aborted) done();
        else done(new TransportError('not acknowledged: the message will be redelivered'));
      },
      (err: unknown) => done(coerceError(err)),
    );
    const tracked = work.finally(() => this.#inflight.delete(tracked));
    this.#inflight.add(tracked);
  }

  /** Forward one message; true when it may be acknowledged (forwarded, or refused for good). */
  async #forward(packet: IPublishPacket): Promise<boolean> {
    const pipe = this.#ctx.pipe;
    if (this.#closing.signal.aborted) return false;
    pipe.received();
    const text = Buffer.from(packet.payload).toString('utf8');
    let payload: unknown = text;
    try {
      payload = JSON.parse(text);
    } catch {
      // not JSON: the text is the payload
    }
    try {
      await pipe.forward({ event_type: packet.topic.replaceAll('/', '.'), payload, topic: packet.topic }, { signal: this.#closing.signal });
      return true;
    } catch (err) {
      if (refusalReason(err) !== undefined) return true;
      if (!(err instanceof RouterUnavailableError)) this.#ctx.log.error({ err: coerceError(err) }, 'forwarding failed');
      return false;
    }
  }
}
