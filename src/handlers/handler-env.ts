import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HandlerRefusedError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import type { HandlerSpec } from './spec.js';

/**
 * What a handler's process (or tsfunc thread) may see of the worker's environment. Never
 * `REDIS_URL`, `MONGO_URL` or anything else of the daemon's: its passwords stay in it.
 */
const ALLOWED = new Set(['PATH', 'HOME', 'LANG', 'TZ', 'USER', 'LOGNAME']);
const ALLOWED_PREFIX = 'LC_';

/** The allow-listed variables of `from`; `tmpDir`, when given, is the handlers' `TMPDIR`. */
export function baseEnvironment(from: NodeJS.ProcessEnv, tmpDir?: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v !== undefined && (ALLOWED.has(k) || k.startsWith(ALLOWED_PREFIX) || (k === 'TMPDIR' && tmpDir === undefined))) env[k] = v;
  }
  if (tmpDir !== undefined) env['TMPDIR'] = tmpDir;
  return env;
}

/** The `EVENT_*` variables of a run. */
export function eventEnvironment(event: ReactorEvent, attempt: number): Record<string, string> {
  return {
    EVENT_ID: event.id,
    EVENT_TYPE: event.event_type,
    EVENT_NAMESPACE: event.namespace,
    EVENT_KEY: `${event.namespace}:${event.event_type}`,
    EVENT_TRACE_ID: event.trace_id,
    EVENT_ATTEMPT: String(attempt),
    EVENT_HOPS: String(event.hops ?? 0),
  };
}

/** A handler entry's `env`: plain values, or `{"secret": "NAME"}` read from the secrets directory. */
export type EnvEntries = Readonly<Record<string, string | { readonly secret: string }>>;

/** A run's environment and the secret values in it. */
export interface RunEnvironment {
  env: Record<string, string>;
  secrets: readonly string[];
}

/**
 * Builds each run's environment: the allow-listed variables, the event's `EVENT_*`, and
 * the entry's `env`. Secrets are read when the run starts (a changed secret applies to
 * the next run), from files only their owner can read, as handler files are checked.
 */
export class HandlerEnvironment {
  readonly #base: Record<string, string>;
  readonly #secretsDir: string;

  constructor(base: Record<string, string>, secretsDir: string) {
    this.#base = base;
    this.#secretsDir = secretsDir;
  }

  /** @throws {HandlerRefusedError} naming the secret when it is missing, unsafe or unreadable */
  forRun(spec: HandlerSpec, event: ReactorEvent, attempt: number): RunEnvironment {
    const env = { ...this.#base, ...eventEnvironment(event, attempt) };
    const secrets: string[] = [];
    for (const [name, value] of Object.entries(spec.env ?? {})) {
      if (typeof value === 'string') {
        env[name] = value;
      } else {
        const secret = this.#readSecret(value.secret, name);
        env[name] = secret;
        if (secret !== '') secrets.push(secret);
      }
    }
    return { env, secrets };
  }

  #readSecret(secret: string, variable: string): string {
    if (!/^[\w.-]+$/.test(secret) || secret === '.' || secret === '..') {
      throw new HandlerRefusedError(`env ${variable}: secret name "${secret}" must be a file name in ${this.#secretsDir} (letters, digits, "_", "." or "-")`);
    }
    const file = join(this.#secretsDir, secret);
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch {
      throw new HandlerRefusedError(`env ${variable}: secret file ${file} not found`);
    }
    if ((mode & 0o077) !== 0) {
      throw new HandlerRefusedError(
        `env ${variable}: secret file ${file} is readable or writable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); fix with chmod 600 ${file}`,
      );
    }
    try {
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new HandlerRefusedError(`env ${variable}: cannot read secret file ${file}: ${(err as Error).message}`);
    }
  }
}

/** The text that replaces a secret wherever a run is recorded. */
export const MASK = '***';

/**
 * A function that hides `secrets` in a string, or in every string (keys included) of a
 * JSON-like value. The longest secrets are replaced first, so one that contains another
 * is hidden whole.
 */
export function masker(secrets: readonly string[]): <T>(value: T) => T {
  const sorted = [...new Set(secrets)].filter((s) => s !== '').sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return (v) => v;
  const maskText = (text: string): string => sorted.reduce((t, s) => t.replaceAll(s, MASK), text);
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return maskText(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) Object.defineProperty(out, maskText(k), { value: walk(x), enumerable: true, writable: true, configurable: true });
      return out;
    }
    return v;
  };
  return <T>(value: T): T => walk(value) as T;
}
