import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { HandlerRefusedError, HandlerTimeoutError, coerceError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import { refused, type HandlerDriver, type RunContext, type RunOutcome } from './driver.js';
import { HandlerPathCache } from './handler-path.js';
import type { HandlerSpec } from './spec.js';
import type { FromThread, ThreadData, ToThread } from './tsfunc-protocol.js';
import { tsfuncThreadMain } from './tsfunc-thread.js';

export interface TsfuncDriverOptions {
  handlersDir: string;
  outputLimitBytes: number;
  /** The environment of the modules' threads (`process.env` there); default: none. */
  env?: Record<string, string>;
  /** Heap limit of each module's thread, in MiB; default 256. */
  memoryMb?: number;
  /** After a timeout or an abort, how long a call gets to end before its thread is terminated, in ms; default 1000. */
  abortGraceMs?: number;
}

const EXTENSIONS = ['.ts', '.mts', '.mjs', '.js'];
const DEFAULT_MEMORY_MB = 256;
const DEFAULT_ABORT_GRACE_MS = 1000;
/** Longest a module may take to load in its thread, on top of the handler's timeout. */
const MODULE_LOAD_MS = 30_000;

/** The function a tsfunc module exports. */
export type TsHandler = (event: ReactorEvent, ctx: TsHandlerContext) => unknown;

/** What a tsfunc handler gets besides the event. */
export interface TsHandlerContext {
  /** Logs into the worker's log, with the run's `eventId` and `handler`: `log.info({...}, 'msg')`. */
  log: Pick<RunContext['log'], 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'>;
  /** Aborted at the timeout, or when the worker's shutdown grace runs out. */
  signal: AbortSignal;
  attempt: number;
  fire: RunContext['fire'];
  /** The entry's `env` with its secrets, and the `EVENT_*` variables. */
  env: Record<string, string>;
}

/**
 * Runs `module.function` from a `.ts`, `.mts`, `.mjs` or `.js` file in the handler
 * directory, each module in a worker thread of its own: a function that loops forever
 * or ignores its timeout is terminated with its thread (with every call running in it),
 * without stopping the worker; a thread has a heap limit; its `process.env` holds only
 * what the worker gives it. TypeScript is loaded with tsx, without a build step. A module
 * whose file changes gets a new thread; the old one ends when its calls have.
 */
export class TsfuncDriver implements HandlerDriver {
  readonly #options: TsfuncDriverOptions;
  readonly #threads = new Map<string, ModuleThread>();
  readonly #paths = new HandlerPathCache();
  readonly #tsxApi = import.meta.resolve('tsx/esm/api');

  constructor(options: TsfuncDriverOptions) {
    this.#options = options;
  }

  /** Find the module file and function name for a handler string. */
  locate(command: string): { file: string; fn: string; mtimeMs: number } {
    const dot = command.lastIndexOf('.');
    const modName = command.slice(0, dot);
    const fn = command.slice(dot + 1);
    for (const ext of EXTENSIONS) {
      const found = this.#paths.resolveFile(this.#options.handlersDir, modName + ext, 'tsfunc module');
      if (found) return { file: found.path, fn, mtimeMs: found.mtimeMs };
    }
    throw new HandlerRefusedError(`tsfunc module "${modName}" not found in ${this.#options.handlersDir} (tried ${EXTENSIONS.join(', ')})`);
  }

  async run(spec: HandlerSpec, event: ReactorEvent, ctx: RunContext): Promise<RunOutcome> {
    let located;
    try {
      located = this.locate(spec.command);
    } catch (err) {
      return refused(err);
    }
    const outcome = await this.#threadFor(located.file, located.mtimeMs).call(located.fn, event, ctx);
    if (outcome.errorCode === 'ERR_HANDLER_REFUSED') outcome.error = `tsfunc module ${located.file} ${outcome.error ?? ''}`.trim();
    return this.#cap(outcome);
  }

  /** Terminate every module's thread. */
  async close(): Promise<void> {
    await Promise.all([...this.#threads.values()].map((t) => t.terminate()));
    this.#threads.clear();
  }

  #threadFor(file: string, mtimeMs: number): ModuleThread {
    const current = this.#threads.get(file);
    if (current && current.mtimeMs === mtimeMs && current.alive) return current;
    current?.retire();
    const thread = new ModuleThread(file, mtimeMs, {
      tsxApi: this.#tsxApi,
      env: this.#options.env ?? {},
      memoryMb: this.#options.memoryMb ?? DEFAULT_MEMORY_MB,
      abortGraceMs: this.#options.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS,
    });
    this.#threads.set(file, thread);
    return thread;
  }

  /** Keep the return value if its JSON fits the output limit; otherwise a cut JSON string. */
  #cap(outcome: RunOutcome & { json?: string }): RunOutcome {
    const { json, ...rest } = outcome;
    if (json === undefined) return rest;
    const limit = this.#options.outputLimitBytes;
    if (Buffer.byteLength(json) <= limit) return { ...rest, data: JSON.parse(json) as unknown };
    return { ...rest, data: Buffer.from(json).subarray(0, limit).toString('utf8'), dataTruncated: true };
  }
}

interface ThreadOptions {
  tsxApi: string;
  env: Record<string, string>;
  memoryMb: number;
  abortGraceMs: number;
}

interface Call {
  ctx: RunContext;
  resolve: (outcome: RunOutcome & { json?: string }) => void;
  /** Set once the call's signal was aborted: timeout or shutdown. */
  aborted?: 'timeout' | 'abort';
  /** Timers to clear and listeners to remove when the call ends. */
  cleanup: (() => void)[];
  /** Starts the call's timeout once the function is called. */
  startTimeout?: () => void;
}

/** One module's worker thread and the calls running in it. */
class ModuleThread {
  readonly mtimeMs: number;
  readonly #options: ThreadOptions;
  readonly #worker: Worker;
  readonly #calls = new Map<number, Call>();
  #nextId = 0;
  #alive = true;
  #retired = false;
  /** Why the thread ended, for the calls it took down. */
  #endReason: string | undefined;

  constructor(file: string, mtimeMs: number, options: ThreadOptions) {
    this.mtimeMs = mtimeMs;
    this.#options = options;
    const data: ThreadData = { moduleUrl: `${pathToFileURL(file).href}?v=${mtimeMs}`, typescript: /\.m?ts$/.test(file), tsxApi: options.tsxApi };
    // `__name`: the helper a transpiler that keeps function names (tsx) may call.
    this.#worker = new Worker(`var __name = (f) => f;\n(${tsfuncThreadMain.toString()})(require);`, {
      eval: true,
      workerData: data,
      env: options.env,
      resourceLimits: { maxOldGenerationSizeMb: options.memoryMb, maxYoungGenerationSizeMb: Math.max(4, Math.floor(options.memoryMb / 8)) },
      stdout: false,
      stderr: false,
    });
    this.#worker.unref();
    this.#worker.on('message', (m: FromThread) => this.#onMessage(m));
    this.#worker.on('error', (err) => {
      this.#endReason =
        (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `the module's thread ran out of memory (limit ${options.memoryMb} MiB)`
          : `the module's thread failed: ${err.message}`;
    });
    this.#worker.on('exit', () => this.#onExit());
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Run `fn` on `event`; never rejects: every ending is an outcome. */
  call(fn: string, event: ReactorEvent, ctx: RunContext): Promise<RunOutcome & { json?: string }> {
    const id = ++this.#nextId;
    return new Promise((resolve) => {
      const call: Call = { ctx, resolve, cleanup: [] };
      const later = (ms: number, fn: () => void): void => {
        const t = setTimeout(fn, ms);
        call.cleanup.push(() => clearTimeout(t));
      };
      this.#calls.set(id, call);
      this.#worker.ref();
      const abort = (why: 'timeout' | 'abort', reason: string): void => {
        if (call.aborted || !this.#calls.has(id)) return;
        call.aborted = why;
        this.#post({ type: 'abort', id, reason });
        // A call that ignores its signal (or blocks its thread) is ended by force.
        later(
          this.#options.abortGraceMs,
          () => void this.#kill(`the call did not end within ${this.#options.abortGraceMs} ms of its ${why}; thread terminated`),
        );
      };
      // The timeout runs from the call of the function (see 'started'); loading the module
      // (tsx compiles it in a fresh thread) may take up to MODULE_LOAD_MS more.
      call.startTimeout = () => later(ctx.timeoutMs, () => abort('timeout', `handler timed out after ${ctx.timeoutMs} ms`));
      later(ctx.timeoutMs + MODULE_LOAD_MS, () => abort('timeout', `handler timed out after ${ctx.timeoutMs} ms (its module took too long to load)`));
      const onAbort = (): void => abort('abort', coerceError(ctx.signal.reason).message);
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
      call.cleanup.push(() => ctx.signal.removeEventListener('abort', onAbort));
      this.#post({ type: 'call', id, fn, event, attempt: ctx.attempt, env: ctx.env });
    });
  }

  /** Take no new calls; end the thread once the running ones are done. */
  retire(): void {
    this.#retired = true;
    this.#alive = false;
    if (this.#calls.size === 0) void this.#worker.terminate();
  }

  async terminate(): Promise<void> {
    this.#alive = false;
    await this.#worker.terminate();
  }

  async #kill(reason: string): Promise<void> {
    this.#endReason ??= reason;
    this.#alive = false;
    await this.#worker.terminate();
  }

  #post(m: ToThread): void {
    this.#worker.postMessage(m);
  }

  #onMessage(m: FromThread): void {
    const call = this.#calls.get(m.id);
    if (m.type === 'started') {
      call?.startTimeout?.();
      return;
    }
    if (m.type === 'log') {
      if (call) call.ctx.log[m.level](call.ctx.mask(m.obj), m.msg === undefined ? undefined : call.ctx.mask(m.msg));
      return;
    }
    if (m.type === 'fire') {
      if (!call || call.aborted) {
        this.#post({ type: 'fired', fireId: m.fireId, error: 'the run is over (timed out or aborted); the event was not sent' });
        return;
      }
      call.ctx.fire(m.event as Parameters<RunContext['fire']>[0]).then(
        (event) => this.#post({ type: 'fired', fireId: m.fireId, event }),
        (err: unknown) => this.#post({ type: 'fired', fireId: m.fireId, error: coerceError(err).message }),
      );
      return;
    }
    if (m.type === 'registers') {
      const registers = call && !call.aborted ? call.ctx.registers : undefined;
      if (!registers) {
        const why = call ? 'this worker has no rules state (Redis)' : 'the run is over (timed out or aborted)';
        this.#post({ type: 'registered', requestId: m.requestId, error: `ctx.registers: ${why}` });
        return;
      }
      const options = m.options ?? {};
      (m.op === 'add' ? registers.add(m.name as string, m.value as number, options) : registers.get(m.name as string, options)).then(
        (reading) => this.#post({ type: 'registered', requestId: m.requestId, reading }),
        (err: unknown) => this.#post({ type: 'registered', requestId: m.requestId, error: coerceError(err).message }),
      );
      return;
    }
    if (!call) return;
    if (m.refused !== undefined) this.#finish(m.id, { status: 'error', error: m.refused, errorCode: 'ERR_HANDLER_REFUSED', data: null });
    else if (call.aborted === 'timeout') this.#finish(m.id, timedOut(call.ctx.timeoutMs, 'the function was signalled to abort'));
    else if (m.error)
      this.#finish(m.id, { status: 'error', error: m.error.message, errorCode: 'ERR_HANDLER', data: null, stderr: m.error.stack ?? m.error.message });
    else if (m.unserialisable !== undefined)
      this.#finish(m.id, { status: 'ok', code: 0, data: `[return value is not JSON-serialisable: ${m.unserialisable}]` });
    else this.#finish(m.id, { status: 'ok', code: 0, data: null, ...(m.json === undefined ? {} : { json: m.json }) });
    if (this.#retired && this.#calls.size === 0) void this.#worker.terminate();
  }

  #finish(id: number, outcome: RunOutcome & { json?: string }): void {
    const call = this.#calls.get(id);
    if (!call) return;
    this.#calls.delete(id);
    for (const undo of call.cleanup) undo();
    if (this.#calls.size === 0) this.#worker.unref();
    call.resolve(outcome);
  }

  /** The thread ended: every call still in it ends too. */
  #onExit(): void {
    this.#alive = false;
    const reason = this.#endReason ?? "the module's thread exited";
    for (const [id, call] of [...this.#calls]) {
      if (call.aborted === 'timeout') this.#finish(id, timedOut(call.ctx.timeoutMs, reason));
      else
        this.#finish(id, {
          status: 'error',
          error: `${call.aborted ? `aborted (${coerceError(call.ctx.signal.reason).message}); ` : ''}${reason}`,
          errorCode: 'ERR_HANDLER',
          data: null,
        });
    }
  }
}

function timedOut(timeoutMs: number, how: string): RunOutcome {
  const err = new HandlerTimeoutError(timeoutMs);
  return { status: 'timeout', error: `${err.message}; ${how}`, errorCode: err.code, data: null };
}
