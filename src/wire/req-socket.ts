import * as zmq from 'zeromq';
import { AuthError, TimeoutError, TransportError } from '../errors.js';
import { curveClientOptions, type CurveClientKeys } from './curve.js';
import { watchHandshake } from './handshake.js';
import { splitEndpoints } from './endpoints.js';

export interface ReqSocketOptions {
  /**
   * The peer's endpoint, or several separated by commas (`tcp://r1:55055,tcp://r2:55055`):
   * after a timeout the next one is tried with the same request, and the one that answered
   * is asked first from then on.
   */
  uri: string;
  /** How long to wait for each reply; default 5000 ms. */
  timeoutMs?: number;
  /** Extra tries after a timeout; default 0. With several endpoints each is tried at least once. */
  retries?: number;
  /** What the peer is, for error messages; default "the router". */
  peer?: string;
  /** CURVE keys, when the router requires them (`security.curve`). */
  curve?: CurveClientKeys | undefined;
}

/**
 * A ZeroMQ REQ socket used for one request at a time (REQ's rule), with a timeout per
 * reply. After a timeout the socket is replaced, because a REQ socket that missed its
 * reply cannot send again; the same request text is sent on every try.
 */
export class ReqSocket {
  readonly #uris: string[];
  /** The endpoint asked first: the last one that answered. */
  #current = 0;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #peer: string;
  readonly #curve: CurveClientKeys | undefined;
  #sock: zmq.Request | undefined;
  /** Why the last handshake failed, when it did: turns a bare timeout into a reason. */
  #handshakeError: () => string | undefined = () => undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: ReqSocketOptions) {
    this.#uris = splitEndpoints(options.uri);
    if (this.#uris.length === 0) throw new TransportError(`no endpoint for ${options.peer ?? 'the router'} in ${JSON.stringify(options.uri)}`);
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#retries = options.retries ?? 0;
    this.#peer = options.peer ?? 'the router';
    this.#curve = options.curve;
  }

  /** Send `text`, resolve with the reply text. Requests queue behind each other. */
  request(text: string): Promise<string> {
    const run = this.#chain.then(() => this.#request(text));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #request(text: string): Promise<string> {
    let lastErr: Error | undefined;
    const tries = Math.max(this.#retries + 1, this.#uris.length);
    for (let attempt = 0; attempt < tries; attempt++) {
      if (this.#closed) throw new TransportError(`connection to ${this.#peer} is closed`);
      const sock = (this.#sock ??= this.#connect());
      try {
        await sock.send(text);
        const [reply] = await sock.receive();
        return reply!.toString('utf8');
      } catch (err) {
        sock.close();
        this.#sock = undefined;
        lastErr = err as Error;
        const refused = this.#handshakeError();
        if (refused !== undefined && this.#uris.length === 1) break;
        // The next endpoint, if there are several: a router that does not answer is passed over.
        this.#current = (this.#current + 1) % this.#uris.length;
      }
    }
    const where = this.#uris.join(', ');
    const refused = this.#handshakeError();
    if (refused !== undefined) throw new AuthError(`${this.#peer} at ${where} refused the connection: ${refused}`, { cause: lastErr });
    throw new TimeoutError(`no reply from ${this.#peer} at ${where} within ${this.#timeoutMs} ms (${tries} ${tries === 1 ? 'try' : 'tries'})`, {
      cause: lastErr,
    });
  }

  #connect(): zmq.Request {
    const sock = new zmq.Request({ receiveTimeout: this.#timeoutMs, sendTimeout: this.#timeoutMs, linger: 0, ...curveClientOptions(this.#curve) });
    this.#handshakeError = watchHandshake(sock, this.#curve !== undefined);
    try {
      sock.connect(this.#uris[this.#current]!);
    } catch (err) {
      sock.close();
      throw new TransportError(`cannot connect to ${this.#uris[this.#current]}: ${(err as Error).message}`, { cause: err });
    }
    return sock;
  }

  close(): void {
    this.#closed = true;
    this.#sock?.close();
    this.#sock = undefined;
  }
}
