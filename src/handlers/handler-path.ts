import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { HandlerRefusedError } from '../errors.js';
import { assertSafeForRoot } from './handler-safety.js';

/** True when `child` is `dir` itself or lies below it. */
export function isInside(dir: string, child: string): boolean {
  const rel = relative(dir, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Resolve `rel` inside the handler directory, following symlinks, and refuse a path that
 * ends up outside it, or, when running as root, one that others could change (see
 * {@link assertSafeForRoot}). Returns undefined when the file does not exist.
 */
export function resolveInside(dir: string, rel: string, what: string): string | undefined {
  const root = realOrSelf(dir);
  const candidate = resolve(root, rel);
  if (!isInside(root, candidate)) {
    throw new HandlerRefusedError(`${what} "${rel}" is outside the handler directory ${root}`);
  }
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    return undefined;
  }
  if (!isInside(root, real)) {
    throw new HandlerRefusedError(`${what} "${rel}" resolves to ${real}, outside the handler directory ${root}`);
  }
  if (!statSync(real).isFile()) return undefined;
  assertSafeForRoot(root, real);
  return real;
}

export interface ResolvedFile {
  path: string;
  mtimeMs: number;
}

/** How long {@link HandlerPathCache} trusts a resolved path, in ms. */
const HANDLER_PATH_TTL_MS = 1000;

/**
 * {@link resolveInside} with each answer kept for `ttlMs`: a worker resolves the same few
 * handlers for every job, and resolving (realpath, stat of every directory up to the
 * handler directory) was an eighth of its CPU. A changed, removed or unsafe file is
 * noticed within `ttlMs`. Refusals are not kept, so they are reported on every job.
 */
export class HandlerPathCache {
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { at: number; file: ResolvedFile | undefined }>();

  constructor(ttlMs: number = HANDLER_PATH_TTL_MS) {
    this.#ttlMs = ttlMs;
  }

  resolve(dir: string, rel: string, what: string): string | undefined {
    return this.resolveFile(dir, rel, what)?.path;
  }

  /** {@link resolve}, with the file's modification time as it was when resolved. */
  resolveFile(dir: string, rel: string, what: string): ResolvedFile | undefined {
    const key = `${dir}\0${rel}`;
    const now = performance.now();
    const hit = this.#entries.get(key);
    if (hit && now - hit.at < this.#ttlMs) return hit.file;
    const path = resolveInside(dir, rel, what);
    const file = path === undefined ? undefined : { path, mtimeMs: statSync(path).mtimeMs };
    this.#entries.set(key, { at: now, file });
    return file;
  }
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}
