import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { HandlerRefusedError, HandlerTimeoutError, coerceError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import { refused, type HandlerDriver, type RunContext, type RunOutcome } from './driver.js';
import { HandlerPathCache } from './handler-path.js';
import type { HandlerSpec } from './spec.js';

export interface TsfuncDriverOptions {
  handlersDir: string;
  outputLimitBytes: number;
}

const EXTENSIONS = ['.ts', '.mts', '.mjs', '.js'];

/** The function a tsfunc module exports. */
export type TsHandler = (event: ReactorEvent, ctx: TsHandlerContext) => unknown;

/** What a tsfunc handler gets besides the event. */
export interface TsHandlerContext {
  log: RunContext['log'];
  signal: AbortSignal;
  attempt: number;
  fire: RunContext['fire'];
}

/**
 * Runs `module.function` from a `.ts`, `.mts`, `.mjs` or `.js` file in the handler
 * directory. TypeScript is loaded with tsx, without a build step. A module is loaded
 * again when its file changes.
 */
export class TsfuncDriver implements HandlerDriver {
  readonly #options: TsfuncDriverOptions;
  readonly #cache = new Map<string, { mtimeMs: number; mod: Promise<Record<string, unknown>> }>();
  readonly #paths = new HandlerPathCache();

  constructor(options: TsfuncDriverOptions) {
    this.#options = options;
  }

  /** Find the module file and function name for a handler string. */
  locate(handler: string): { file: string; fn: string; mtimeMs: number } {
    const dot = handler.lastIndexOf('.');
    const modName = handler.slice(0, dot);
    const fn = handler.slice(dot + 1);
    for (const ext of EXTENSIONS) {
      const found = this.#paths.resolveFile(this.#options.handlersDir, modName + ext, 'tsfunc module');
      if (found) return { file: found.path, fn, mtimeMs: found.mtimeMs };
    }
    throw new HandlerRefusedError(`tsfunc module "${modName}" not found in ${this.#options.handlersDir} (tried ${EXTENSIONS.join(', ')})`);
  }

  async load(handler: string): Promise<TsHandler> {
    // The modification time comes from the path cache: a changed module is reloaded
    // within its TTL, without a stat per job.
    const { file, fn, mtimeMs } = this.locate(handler);
    let entry = this.#cache.get(file);
    if (!entry || entry.mtimeMs !== mtimeMs) {
      const url = pathToFileURL(file).href;
      const version = `?v=${mtimeMs}`;
      const mod = (/\.m?ts$/.test(file) ? tsImport(url + version, import.meta.url) : import(url + version)) as Promise<Record<string, unknown>>;
      entry = { mtimeMs, mod };
      this.#cache.set(file, entry);
    }
    let mod: Record<string, unknown>;
    try {
      mod = await entry.mod;
    } catch (err) {
      this.#cache.delete(file);
      throw new HandlerRefusedError(`cannot load tsfunc module ${file}: ${(err as Error).message}`, { cause: err });
    }
    const f = mod[fn];
    if (typeof f !== 'function') {
      const exported = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
      throw new HandlerRefusedError(`tsfunc module ${file} has no exported function "${fn}" (functions it exports: ${exported.join(', ') || 'none'})`);
    }
    return f as TsHandler;
  }

  async run(spec: HandlerSpec, event: ReactorEvent, ctx: RunContext): Promise<RunOutcome> {
    let fn: TsHandler;
    try {
      fn = await this.load(spec.command);
    } catch (err) {
      return refused(err);
    }
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new HandlerTimeoutError(ctx.timeoutMs);
        controller.abort(err);
        reject(err);
      }, ctx.timeoutMs);
    });
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(coerceError(controller.signal.reason)), { once: true });
    });
    try {
      const value = await Promise.race([
        Promise.resolve().then(() => fn(event, { log: ctx.log, signal: controller.signal, attempt: ctx.attempt, fire: ctx.fire })),
        timeout,
        aborted,
      ]);
      return { status: 'ok', code: 0, ...this.#cap(value) };
    } catch (err) {
      if (err instanceof HandlerTimeoutError) {
        return { status: 'timeout', error: `${err.message}; the function was signalled to abort`, errorCode: err.code, data: null };
      }
      const e = coerceError(err);
      return { status: 'error', error: e.message, errorCode: 'ERR_HANDLER', data: null, stderr: e.stack ?? e.message };
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Keep the return value if its JSON fits the output limit; otherwise a cut JSON string. */
  #cap(value: unknown): { data: unknown; dataTruncated?: boolean } {
    if (value === undefined) return { data: null };
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (err) {
      return { data: `[return value is not JSON-serialisable: ${(err as Error).message}]` };
    }
    if (json === undefined) return { data: null };
    if (Buffer.byteLength(json) <= this.#options.outputLimitBytes) return { data: JSON.parse(json) as unknown };
    return { data: Buffer.from(json).subarray(0, this.#options.outputLimitBytes).toString('utf8'), dataTruncated: true };
  }
}
