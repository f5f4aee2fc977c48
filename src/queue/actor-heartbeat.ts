import { Queue } from 'bullmq';
import type { Logger } from '../logger.js';
import type { QueueSettings } from '../config/settings.js';
import { coerceError } from '../errors.js';
import { settlesWithin } from '../lifecycle/settles-within.js';
import { HEARTBEAT_MS, actorQueueName, type ActorRegistry } from './actor-registry.js';
import { queueConnection } from './connection.js';
import type { BullConnection } from '../redis/redis-client.js';
import { unparked, type HandlerJobData } from './job.js';

export interface ActorHeartbeatOptions {
  /** This worker's actor name (`--host-name`). */
  name: string;
  registry: ActorRegistry;
  redisUrl: string;
  queue: QueueSettings;
  log: Logger;
}

/** Parked jobs looked at per beat. */
const PARKED_PAGE = 500;
/** How long close() waits for its last words to Redis. */
const LEAVE_WAIT_MS = 2000;

/**
 * An actor worker's heartbeat: its name in the registry, renewed every {@link HEARTBEAT_MS}
 * while it runs (a worker cut off from Redis stops being live after ACTOR_TTL_MS), marked
 * gone at close. At each beat it also takes back the jobs a worker parked while this actor
 * was away (see absent-actors.ts): they run now instead of at the end of their wait.
 */
export class ActorHeartbeat {
  readonly #o: ActorHeartbeatOptions;
  readonly #queue: Queue<HandlerJobData>;
  readonly #link: BullConnection;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> | undefined;
  #failing = false;
  #closing: Promise<void> | undefined;

  constructor(options: ActorHeartbeatOptions) {
    this.#o = options;
    this.#link = queueConnection(options.redisUrl);
    this.#queue = new Queue<HandlerJobData>(actorQueueName(options.queue.name, options.name), {
      connection: this.#link.connection,
      prefix: options.queue.prefix,
    });
    this.#queue.on('error', (err) => options.log.debug({ err }, 'actor queue connection error'));
  }

  /** Beat now and every {@link HEARTBEAT_MS}; resolves after the first beat, or its failure (logged, retried). */
  async start(): Promise<void> {
    await this.#beat();
    this.#timer = setInterval(() => {
      this.#beating ??= this.#beat().finally(() => (this.#beating = undefined));
    }, HEARTBEAT_MS);
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    try {
      await this.#o.registry.beat(this.#o.name);
      if (this.#failing) this.#o.log.info({ actor: this.#o.name }, 'actor heartbeat renewed');
      this.#failing = false;
      await this.#unpark();
    } catch (err) {
      if (!this.#failing) this.#o.log.warn({ err: coerceError(err), actor: this.#o.name }, 'actor heartbeat failed; retrying');
      this.#failing = true;
    }
  }

  /** Promote the jobs parked while this actor was not live. */
  async #unpark(): Promise<void> {
    if ((await this.#queue.getDelayedCount()) === 0) return;
    for (const job of await this.#queue.getDelayed(0, PARKED_PAGE - 1)) {
      // Only parked ones: a debounced or backed-off job keeps its delay. The mark goes
      // first, so a backoff of this job later is not cut short by a later beat.
      if (job.data.parked === undefined) continue;
      // Gone since the listing (taken, completed and removed): nothing to promote.
      if (
        !(await job.updateData(unparked(job.data)).then(
          () => true,
          () => false,
        ))
      )
        continue;
      await job.promote().catch(() => undefined);
    }
  }

  /** Stop beating and leave the registry (no longer live at once). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      // A beat waiting for an unreachable Redis does not hold the shutdown.
      if (this.#beating) await settlesWithin(this.#beating, LEAVE_WAIT_MS);
      const leaving = this.#o.registry
        .leave(this.#o.name)
        .catch((err: unknown) => this.#o.log.warn({ err: coerceError(err) }, 'could not leave the actor registry'));
      if (!(await settlesWithin(leaving, LEAVE_WAIT_MS)))
        this.#o.log.warn({ actor: this.#o.name }, 'actor registry unreachable at close; the actor stops being live once its heartbeat is old');
      await this.#queue.close().catch(() => undefined);
      await this.#link.close();
    })();
    return this.#closing;
  }
}
