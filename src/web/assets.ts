import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReactorError } from '../errors.js';

/** A static file the console serves, read once at start. */
export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The files under `/assets/`: one script, one stylesheet, an icon (no front-end build step). */
const FILES: Record<string, string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * The folder of the console's static files, `src/web/assets/`. From the sources (tsx)
 * it is beside this module; from the bundle in `dist/` (or `dist/chunks/`) it is found
 * by walking up to the package root, which ships `src/` (the package's types point there).
 */
export function findAssetsDir(from: string = import.meta.url): string | undefined {
  for (let dir = dirname(fileURLToPath(from)); ; dir = dirname(dir)) {
    for (const candidate of [join(dir, 'assets'), join(dir, 'src', 'web', 'assets')]) {
      if (existsSync(join(candidate, 'console.js'))) return candidate;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Read every asset.
 *
 * @throws {ReactorError} (`ERR_INTERNAL`) naming the folder when the files are not found:
 *   an installation without `src/web/assets/`
 */
export function loadAssets(dir: string | undefined = findAssetsDir()): Map<string, Asset> {
  if (dir === undefined) throw new ReactorError('ERR_INTERNAL', 'web console: its static files (src/web/assets/console.js, console.css) are not installed');
  const out = new Map<string, Asset>();
  for (const [name, type] of Object.entries(FILES)) {
    let body: Buffer;
    try {
      body = readFileSync(join(dir, name));
    } catch (err) {
      throw new ReactorError('ERR_INTERNAL', `web console: cannot read ${join(dir, name)}: ${(err as Error).message}`, { cause: err });
    }
    out.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return out;
}
