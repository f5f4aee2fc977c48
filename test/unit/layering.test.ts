/**
 * The README's layout table is the map of src/: each row a level, from the top (the CLI)
 * down to the shared basics. A folder may import its own files and the folders of lower
 * rows only; two folders on one row may not import each other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(ROOT, 'src');

/** Rows of the README's "Layout" table: level -> folders (`src/x/`, or `src/*.ts` for the root files). */
function readMap(): Map<string, number> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Layout'));
  const map = new Map<string, number>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*(\d+)\s*\|([^|]+)\|/.exec(line);
    if (!m) continue;
    for (const folder of m[2]!.matchAll(/`src\/([^`]*)`/g)) map.set(folder[1] === '*.ts' ? '' : folder[1]!.replace(/\/$/, ''), Number(m[1]));
  }
  return map;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The top folder of src a file lies in ('' for the root files). */
function folderOf(file: string): string {
  const rel = relative(SRC, file);
  return rel.includes('/') ? rel.slice(0, rel.indexOf('/')) : '';
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g;
/** The API modules gather everything: they sit above the map. */
const API = new Set(['index.ts', 'internal.ts']);

test('layering - every src folder is on the README map, and none imports a folder above it or beside it', () => {
  const map = readMap();
  assert.ok(map.size > 5, 'the README has a "## Layout" table of levels');
  const problems: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const rel = relative(SRC, file);
    if (API.has(rel)) continue;
    const from = folderOf(file);
    const level = map.get(from);
    if (level === undefined) {
      problems.push(`src/${from || '*.ts'} (${rel}) is not in the README's layout table`);
      continue;
    }
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      const to = folderOf(target);
      if (to === from) continue;
      const toLevel = map.get(to);
      if (toLevel === undefined || toLevel <= level) problems.push(`${rel} (level ${level}) imports ${relative(SRC, target)} (level ${toLevel ?? '?'})`);
    }
  }
  assert.deepEqual(problems, []);
});
