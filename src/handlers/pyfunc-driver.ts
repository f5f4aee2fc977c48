import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { HandlerRefusedError, HandlerTimeoutError, coerceError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import { refused, type HandlerDriver, type RunContext, type RunOutcome } from './driver.js';
import { HandlerPathCache } from './handler-path.js';
import { TailBuffer } from './output-buffer.js';
import { PYFUNC_RUNNER } from './pyfunc-runner.js';
import type { HandlerSpec } from './spec.js';

export interface PyfuncDriverOptions {
  handlersDir: string;
  outputLimitBytes: number;
  /** The interpreter; default `python3` (config `worker.python`). */
  python?: string;
  /** The interpreter's environment before each call sets the run's; default: none. */
  env?: Record<string, string>;
  /** After SIGTERM, how long a dying interpreter gets before SIGKILL, in ms; default 1000. */
  killGraceMs?: number;
}

/** What the runner replies to one call (see pyfunc-runner.ts). */
interface Reply {
  id: number;
  json?: string;
  unserialisable?: string;
  error?: string;
  traceback?: string;
  refused?: string;
  output?: string;
}

interface Call {
  id: number;
  request: string;
  ctx: RunContext;
  resolve: (outcome: RunOutcome & { json?: string }) => void;
  cleanup: (() => void)[];
}

/**
 * Runs EventReactor's Python handlers unchanged: `"handler": "module.function"` names
 * `module.py` (or `module/__init__.py`; dots are folders) in the handler directory, and
 * `function(event)` is called as EventReactor called it (see pyfunc-runner.ts). One
 * long-lived interpreter per worker, started on the first call; calls run in it one at a
 * time, in order (each gets the run's environment in `os.environ`, which concurrent calls
 * could not). A call past its timeout, or aborted by the worker's shutdown, ends the
 * interpreter (a Python thread cannot be stopped); an interpreter that dies is replaced
 * at the next call. The return value's JSON becomes `data`; an exception an error result
 * with its traceback in `stderr`, where what the call printed or logged goes too.
 */
export class PyfuncDriver implements HandlerDriver {
  readonly #options: PyfuncDriverOptions;
  readonly #paths = new HandlerPathCache();
  readonly #queue: Call[] = [];
  #interpreter: Interpreter | undefined;
  #busy: Call | undefined;
  #nextId = 0;
  #closed = false;

  constructor(options: PyfuncDriverOptions) {
    this.#options = options;
  }

  /** Find the module file of `module.function`. @throws {HandlerRefusedError} when it is not in the handler directory */
  locate(command: string): { module: string; fn: string; file: string; mtimeMs: number } {
    const dot = command.lastIndexOf('.');
    const module = command.slice(0, dot);
    const fn = command.slice(dot + 1);
    const rel = module.replaceAll('.', '/');
    for (const candidate of [`${rel}.py`, `${rel}/__init__.py`]) {
      const found = this.#paths.resolveFile(this.#options.handlersDir, candidate, 'pyfunc module');
      if (found) return { module, fn, file: found.path, mtimeMs: found.mtimeMs };
    }
    throw new HandlerRefusedError(`pyfunc module "${module}" not found in ${this.#options.handlersDir} (looked for ${rel}.py and ${rel}/__init__.py)`);
  }

  async run(spec: HandlerSpec, event: ReactorEvent, ctx: RunContext): Promise<RunOutcome> {
    let located;
    try {
      located = this.locate(spec.command);
    } catch (err) {
      return refused(err);
    }
    if (this.#closed) return refused(new HandlerRefusedError('the pyfunc driver is closed'));
    const id = ++this.#nextId;
    const request = JSON.stringify({ id, module: located.module, file: located.file, mtime: located.mtimeMs, fn: located.fn, event, env: ctx.env });
    const outcome = await new Promise<RunOutcome & { json?: string }>((resolve) => {
      const call: Call = { id, request, ctx, resolve, cleanup: [] };
      const onAbort = (): void => this.#abort(call, `aborted (${coerceError(ctx.signal.reason).message})`);
      if (ctx.signal.aborted) return resolve(abortedOutcome(ctx));
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      call.cleanup.push(() => ctx.signal.removeEventListener('abort', onAbort));
      this.#queue.push(call);
      this.#dispatch();
    });
    return this.#cap(outcome);
  }

  /** End the interpreter; calls still queued or running end with an error. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const call of this.#queue.splice(0))
      this.#finish(call, { status: 'error', error: 'the worker is shutting down', errorCode: 'ERR_HANDLER', data: null });
    const interpreter = this.#interpreter;
    this.#interpreter = undefined;
    if (this.#busy) this.#finish(this.#busy, { status: 'error', error: 'the worker is shutting down', errorCode: 'ERR_HANDLER', data: null });
    await interpreter?.end();
  }

  #dispatch(): void {
    if (this.#busy || this.#queue.length === 0) return;
    const call = this.#queue.shift()!;
    this.#busy = call;
    let interpreter = this.#interpreter;
    if (!interpreter?.alive) {
      interpreter = new Interpreter(this.#options, {
        reply: (r) => this.#onReply(r),
        died: (why, refusal) => this.#onDied(interpreter!, why, refusal),
      });
      this.#interpreter = interpreter;
    }
    const timer = setTimeout(() => {
      const err = new HandlerTimeoutError(call.ctx.timeoutMs);
      this.#endInterpreter();
      this.#finish(call, { status: 'timeout', error: `${err.message}; Python interpreter ended`, errorCode: err.code, data: null });
    }, call.ctx.timeoutMs);
    call.cleanup.push(() => clearTimeout(timer));
    interpreter.send(call.id, call.request);
  }

  #abort(call: Call, why: string): void {
    const queued = this.#queue.indexOf(call);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      this.#finish(call, abortedOutcome(call.ctx));
      return;
    }
    if (this.#busy !== call) return;
    this.#endInterpreter();
    this.#finish(call, { status: 'error', error: `${why}; Python interpreter ended`, errorCode: 'ERR_HANDLER', data: null });
  }

  #endInterpreter(): void {
    const interpreter = this.#interpreter;
    this.#interpreter = undefined;
    void interpreter?.end();
  }

  #onReply(r: Reply): void {
    const call = this.#busy;
    if (!call || call.id !== r.id) return;
    const stderr = [r.output, r.traceback].filter((s) => s).join('');
    const extra = stderr ? { stderr } : {};
    if (r.refused !== undefined) this.#finish(call, { status: 'error', error: r.refused, errorCode: 'ERR_HANDLER_REFUSED', data: null });
    else if (r.error !== undefined) this.#finish(call, { status: 'error', error: r.error, errorCode: 'ERR_HANDLER', data: null, ...extra });
    else if (r.unserialisable !== undefined)
      this.#finish(call, { status: 'ok', code: 0, data: `[return value is not JSON-serialisable: ${r.unserialisable}]`, ...extra });
    else this.#finish(call, { status: 'ok', code: 0, data: null, ...(r.json === undefined ? {} : { json: r.json }), ...extra });
  }

  #onDied(interpreter: Interpreter, why: string, refusal: boolean): void {
    if (this.#interpreter === interpreter) this.#interpreter = undefined;
    const call = this.#busy;
    if (!call || !interpreter.owns(call.id)) return;
    this.#finish(call, refusal ? refused(new HandlerRefusedError(why)) : { status: 'error', error: why, errorCode: 'ERR_HANDLER', data: null });
  }

  #finish(call: Call, outcome: RunOutcome & { json?: string }): void {
    for (const undo of call.cleanup.splice(0)) undo();
    if (this.#busy === call) this.#busy = undefined;
    call.resolve(outcome);
    this.#dispatch();
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

function abortedOutcome(ctx: RunContext): RunOutcome {
  return { status: 'error', error: `aborted before it started (${coerceError(ctx.signal.reason).message})`, errorCode: 'ERR_HANDLER', data: null };
}

/** One `python3` process running the runner. */
class Interpreter {
  readonly #child: ChildProcess;
  readonly #python: string;
  readonly #stderr = new TailBuffer(2048);
  readonly #killGraceMs: number;
  readonly #sent = new Set<number>();
  #alive = true;
  #ended: Promise<void>;

  constructor(options: PyfuncDriverOptions, on: { reply: (r: Reply) => void; died: (why: string, refusal: boolean) => void }) {
    this.#python = options.python ?? 'python3';
    this.#killGraceMs = options.killGraceMs ?? 1000;
    this.#child = spawn(this.#python, ['-u', '-c', PYFUNC_RUNNER, options.handlersDir], {
      cwd: options.handlersDir,
      env: { ...options.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8' },
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    this.#child.stderr!.on('data', (c: Buffer) => this.#stderr.push(c));
    const replies = createInterface({ input: this.#child.stdio[4] as Readable });
    replies.on('line', (line) => {
      try {
        on.reply(JSON.parse(line) as Reply);
      } catch {
        // Not a reply: the runner writes nothing else on fd 4.
      }
    });
    (this.#child.stdio[3] as Writable).on('error', () => undefined);
    this.#ended = new Promise((resolve) => {
      this.#child.on('error', (err: NodeJS.ErrnoException) => {
        this.#alive = false;
        const missing = err.code === 'ENOENT';
        on.died(missing ? `Python interpreter "${this.#python}" not found (set worker.python)` : `cannot start ${this.#python}: ${err.message}`, missing);
        resolve();
      });
      this.#child.on('exit', (code, signal) => {
        this.#alive = false;
        const tail = this.#stderr.toString().trim();
        on.died(`Python interpreter exited (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ''}`, false);
        resolve();
      });
    });
  }

  get alive(): boolean {
    return this.#alive;
  }

  owns(id: number): boolean {
    return this.#sent.has(id);
  }

  send(id: number, request: string): void {
    this.#sent.add(id);
    (this.#child.stdio[3] as Writable).write(`${request}\n`);
  }

  /** Stop the process: SIGTERM, then SIGKILL after the grace. */
  async end(): Promise<void> {
    if (this.#alive) {
      this.#alive = false;
      this.#child.kill('SIGTERM');
      const kill = setTimeout(() => this.#child.kill('SIGKILL'), this.#killGraceMs);
      kill.unref();
      await this.#ended;
      clearTimeout(kill);
    }
  }
}
