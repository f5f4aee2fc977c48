import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configFileSchema } from '../../src/config/schema.js';

interface ZodLike {
  _zod?: { def?: { innerType?: ZodLike; shape?: Record<string, ZodLike> } };
}

/** The schema under its defaults and optional wrappers. */
function unwrap(s: ZodLike): ZodLike {
  let x = s;
  while (x._zod?.def?.innerType) x = x._zod.def.innerType;
  return x;
}

/** Every key path of config.json the schema knows, down to the first non-object value. */
function keyPaths(s: ZodLike, at = '', out: string[] = []): string[] {
  const shape = unwrap(s)._zod?.def?.shape;
  if (!shape) return out;
  for (const [k, v] of Object.entries(shape)) {
    const path = at ? `${at}.${k}` : k;
    if (unwrap(v)._zod?.def?.shape) keyPaths(v, path, out);
    else out.push(path);
  }
  return out;
}

test('readme - every config.json key the schema knows has its row in the README configuration table', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Configuration'), readme.indexOf('\n## Handlers'));
  assert.ok(section.length > 100, 'README has a Configuration section before Handlers');
  const paths = keyPaths(configFileSchema as unknown as ZodLike);
  assert.ok(paths.includes('router.journal') && paths.includes('security.clients'), `the walk found the schema's keys: ${paths.join(', ')}`);
  // The EventReactor sections (aggregator, feeds, inputs, outputs) have rows of their own shape.
  const own = paths.filter((p) => !/^(aggregator|feeds|inputs|outputs)\b/.test(p));
  const missing = own.filter((p) => !section.includes(`\`${p}\``) && !section.includes(`\`${p}.`));
  assert.deepEqual(missing, [], `keys without a README row: ${missing.join(', ')}`);
  for (const p of ['aggregator.config', 'feeds.feeders', 'feeds.router_uri', 'feeds.router_timeout', 'outputs[0]'])
    assert.ok(section.includes(`\`${p}`), `${p} has a README row`);
});
