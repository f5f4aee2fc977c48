import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { HandlerRefusedError } from '../errors.js';

/** True when `child` is `dir` itself or lies below it. */
export function isInside(dir: string, child: string): boolean {
  const rel = relative(dir, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Resolve `rel` inside the handler directory, following symlinks, and refuse a path that
 * ends up outside it. Returns undefined when the file does not exist.
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
  return statSync(real).isFile() ? real : undefined;
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}
