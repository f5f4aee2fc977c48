import type { ReactorEvent } from '../event/event.js';
import type { RegisterReading } from './driver.js';

/**
 * Messages between the worker and a tsfunc module's thread (see tsfunc-thread.ts). The
 * thread loads one module and runs calls of its functions; everything a call does outside
 * its thread (logging, firing follow-up events) goes through the worker.
 */
export type ToThread =
  | { type: 'call'; id: number; fn: string; event: ReactorEvent; attempt: number; env: Record<string, string> }
  /** Abort the call's signal; the worker terminates the thread if the call does not end soon after. */
  | { type: 'abort'; id: number; reason: string }
  | { type: 'fired'; fireId: number; event?: ReactorEvent; error?: string }
  | { type: 'registered'; requestId: number; reading?: RegisterReading; error?: string };

export type FromThread =
  /** The module is loaded and the function called: its timeout starts now. */
  | { type: 'started'; id: number }
  | { type: 'log'; id: number; level: LogLevel; obj: Record<string, unknown>; msg: string | undefined }
  | { type: 'fire'; id: number; fireId: number; event: Record<string, unknown> }
  /** `ctx.registers.get` (no `value`) or `.add`. */
  | { type: 'registers'; id: number; requestId: number; op: 'get' | 'add'; name: unknown; value?: unknown; options?: { group?: string; period?: number } }
  /** The call ended: `json` is its return value as JSON text (undefined for `undefined`), or `error` what it threw. */
  | { type: 'done'; id: number; json?: string; unserialisable?: string; error?: { message: string; stack?: string }; refused?: string };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** What the thread is started with. */
export interface ThreadData {
  /** The module, as a file URL. */
  moduleUrl: string;
  /** Whether the module is TypeScript (loaded with tsx). */
  typescript: boolean;
  /** URL of `tsx/esm/api`, resolved by the worker. */
  tsxApi: string;
}
