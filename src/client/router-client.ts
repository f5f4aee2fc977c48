import * as zmq from 'zeromq';
import { ReactorError, TimeoutError, TransportError } from '../errors.js';
import type { ReactorEvent } from '../event.js';

export interface RouterClientOptions {
  /** REP endpoint, e.g. `tcp://127.0.0.1:55055`. */
  uri: string;
  /** How long to wait for each reply; default 5000 ms. */
  timeoutMs?: number;
  /** Extra tries after a timeout, with the same event id; default 0. */
  retries?: number;
}

/** The router refused the event; `reason` is the wire error code (`invalid_json`, ...). */
export class RouterRefusedError extends ReactorError {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super('ERR_EVENT_INVALID', message);
    this.reason = reason;
  }
}

/**
 * REQ client for the router's REP socket. Requests are sent one at a time (REQ's
 * rule); after a timeout the socket is replaced, because a REQ socket that missed its
 * reply cannot send again.
 */
export class RouterClient {
  readonly #uri: string;
  readonly #timeoutMs: number;
  readonly #retries: number;
  #sock: zmq.Request | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: RouterClientOptions) {
    this.#uri = options.uri;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#retries = options.retries ?? 0;
  }

  /** Send one event (an object, or JSON text sent as it is); resolves with the event as published. */
  send(event: object | string): Promise<ReactorEvent> {
    const text = typeof event === 'string' ? event : JSON.stringify(event);
    const run = this.#chain.then(() => this.#request(text));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #request(text: string): Promise<ReactorEvent> {
    let lastErr: Error | undefined;
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      if (this.#closed) throw new TransportError('router client is closed');
      const sock = (this.#sock ??= this.#connect());
      try {
        await sock.send(text);
        const [reply] = await sock.receive();
        return parseReply(reply!.toString('utf8'));
      } catch (err) {
        if (err instanceof RouterRefusedError) throw err;
        sock.close();
        this.#sock = undefined;
        lastErr = err as Error;
      }
    }
    const tries = this.#retries + 1;
    throw new TimeoutError(`no reply from the router at ${this.#uri} within ${this.#timeoutMs} ms (${tries} ${tries === 1 ? 'try' : 'tries'})`, { cause: lastErr });
  }

  #connect(): zmq.Request {
    const sock = new zmq.Request({ receiveTimeout: this.#timeoutMs, sendTimeout: this.#timeoutMs, linger: 0 });
    try {
      sock.connect(this.#uri);
    } catch (err) {
      sock.close();
      throw new TransportError(`cannot connect to ${this.#uri}: ${(err as Error).message}`, { cause: err });
    }
    return sock;
  }

  close(): void {
    this.#closed = true;
    this.#sock?.close();
    this.#sock = undefined;
  }
}

function parseReply(text: string): ReactorEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TransportError(`router replied with something that is not JSON: ${text.slice(0, 200)}`, { cause: err });
  }
  const v = value as { error?: { code?: unknown; message?: unknown } };
  if (v && typeof v === 'object' && v.error && typeof v.error === 'object') {
    throw new RouterRefusedError(String(v.error.code ?? 'unknown'), String(v.error.message ?? 'refused'));
  }
  return value as ReactorEvent;
}
