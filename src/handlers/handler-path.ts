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

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}
