import { spawn } from 'node:child_process';
import { HandlerRefusedError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import { refused, type HandlerDriver, type RunContext, type RunOutcome } from './driver.js';
import { splitArgv } from './argv.js';
import { HandlerPathCache } from './handler-path.js';
import { HeadBuffer, TailBuffer } from './output-buffer.js';
import type { HandlerSpec } from './spec.js';

export interface ShellDriverOptions {
  /** Handler directory: relative commands are looked up here first, then on PATH. */
  handlersDir: string;
  /** Most bytes of stdout kept. */
  outputLimitBytes: number;
  /** Time between SIGTERM and SIGKILL on timeout; default 2000 ms. */
  killGraceMs?: number;
}

const STDERR_TAIL = 4096;
/** After the handler's process exits, how long its pipes are still read when something else holds them open. */
const OUTPUT_DRAIN_MS = 250;
/** Linux refuses a single argument longer than this (MAX_ARG_STRLEN). */
const MAX_ARG_BYTES = 128 * 1024 - 1;

/**
 * Runs a command without a shell. argv comes from the handler string (quotes honoured);
 * the event JSON is the last argument, as in EventReactor, and is also written to stdin.
 * The environment is the run's (`ctx.env`), never the worker's. The process runs in its
 * own process group so a timeout kills everything it started; a run ends when the process
 * itself exits, whatever it left running in the background.
 */
export class ShellDriver implements HandlerDriver {
  readonly #options: ShellDriverOptions;
  readonly #paths = new HandlerPathCache();

  constructor(options: ShellDriverOptions) {
    this.#options = options;
  }

  /** Resolve the command: inside the handler directory if it names a file there, else PATH. */
  resolveCommand(argv0: string): string {
    if (argv0.includes('/') && argv0.startsWith('/')) return argv0;
    const inDir = this.#paths.resolve(this.#options.handlersDir, argv0, 'shell handler command');
    if (inDir) return inDir;
    if (argv0.includes('/')) {
      throw new HandlerRefusedError(`shell handler command "${argv0}" not found in the handler directory ${this.#options.handlersDir}`);
    }
    return argv0;
  }

  run(spec: HandlerSpec, event: ReactorEvent, ctx: RunContext): Promise<RunOutcome> {
    let argv: readonly string[];
    let file: string;
    try {
      argv = ctx.argv ?? splitArgv(spec.command);
      file = this.resolveCommand(argv[0]!);
    } catch (err) {
      return Promise.resolve(refused(err));
    }
    const json = JSON.stringify(event);
    const tooLong = Buffer.byteLength(json) > MAX_ARG_BYTES;
    const args = [...argv.slice(1), tooLong ? '-' : json];
    const env: Record<string, string> = tooLong ? { ...ctx.env, EVENT_JSON_ON_STDIN_ONLY: '1' } : ctx.env;
    return new Promise<RunOutcome>((resolve) => {
      const stdout = new HeadBuffer(this.#options.outputLimitBytes);
      const stderr = new TailBuffer(STDERR_TAIL);
      let timedOut = false;
      let settled = false;
      const child = spawn(file, args, { cwd: this.#options.handlersDir, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      const killGroup = (sig: NodeJS.Signals): void => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, sig);
        } catch {
          // already gone
        }
      };
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (): void => {
        killGroup('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), this.#options.killGraceMs ?? 2000);
        killTimer.unref();
      };
      const timer = setTimeout(() => {
        timedOut = true;
        stop();
      }, ctx.timeoutMs);
      const onAbort = (): void => stop();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      const finish = (outcome: RunOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      child.stdout.on('data', (c: Buffer) => stdout.push(c));
      child.stderr.on('data', (c: Buffer) => stderr.push(c));
      // A handler that does not read stdin closes it early: that is fine.
      child.stdin.on('error', () => undefined);
      child.stdin.end(json);
      child.on('error', (err: NodeJS.ErrnoException) => {
        const why =
          err.code === 'ENOENT'
            ? `command not found: "${argv[0]}" (looked in ${this.#options.handlersDir} and PATH)`
            : err.code === 'EACCES'
              ? `command is not executable: ${file}`
              : `cannot start "${argv[0]}": ${err.message}`;
        finish({ status: 'error', error: why, errorCode: 'ERR_HANDLER', data: '' });
      });
      // The run ends when the handler's own process exits. A background child it started
      // (`service x restart`, `cmd &`) may keep stdout open; the output already written is
      // read for a moment more, then the pipes are closed so the job does not wait for it.
      child.on('exit', () => {
        const drain = setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
        }, OUTPUT_DRAIN_MS);
        drain.unref();
        child.once('close', () => clearTimeout(drain));
      });
      child.on('close', (code, signal) => {
        if (killTimer && !timedOut) clearTimeout(killTimer);
        const base = { data: stdout.toString(), stderr: stderr.toString(), ...(stdout.truncated ? { dataTruncated: true } : {}) };
        if (timedOut) {
          finish({
            ...base,
            status: 'timeout',
            error: `handler timed out after ${ctx.timeoutMs} ms; process group killed`,
            errorCode: 'ERR_HANDLER_TIMEOUT',
            ...(signal ? { signal } : {}),
          });
        } else if (code === 0) {
          finish({ ...base, status: 'ok', code: 0 });
        } else if (signal) {
          finish({ ...base, status: 'error', error: `handler killed by ${signal}`, errorCode: 'ERR_HANDLER', signal });
        } else {
          finish({ ...base, status: 'error', code: code ?? -1, error: `handler exited with code ${code}`, errorCode: 'ERR_HANDLER' });
        }
      });
    });
  }
}
