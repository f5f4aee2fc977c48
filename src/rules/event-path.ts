/**
 * Paths into an event, as handler files write them: `payload.mount`, `id`,
 * `payload.disks[0].used`. Field names are letters, digits, `_` and `-` (not starting
 * with a digit or `-`); indexes apply to arrays. Used by `{{path}}` templates, registers'
 * `value` and `by`, throttles' and correlations' `by`.
 */

/** One step of a path: a field name or an array index. */
export type PathStep = string | number;

const PATH = /^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d{1,9}\])*$/;
const STEP = /\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]/g;

/** True when `text` is a path in the form above. */
export function isEventPath(text: string): boolean {
  return PATH.test(text);
}

/** The steps of a path already checked with {@link isEventPath}. */
export function parseSteps(text: string): PathStep[] {
  const steps: PathStep[] = [];
  for (const m of text.matchAll(STEP)) steps.push(m[1] !== undefined ? m[1] : Number(m[2]));
  return steps;
}

/** The value at `steps` in `root`: own fields of objects, indexes of arrays; undefined when there is none. */
export function lookup(root: unknown, steps: readonly PathStep[]): unknown {
  let v = root;
  for (const step of steps) {
    if (typeof step === 'number') {
      if (!Array.isArray(v) || step >= v.length) return undefined;
      v = v[step];
    } else {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, step)) return undefined;
      v = (v as Record<string, unknown>)[step];
    }
  }
  // JSON.stringify(undefined) is undefined, and functions or symbols are not event data.
  return typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint' ? undefined : v;
}
