import type { z } from 'zod';

/** What the walk needs of a zod schema's definition (zod 4's `_zod.def`). */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/** Wrappers that do not change which keys an object may have. */
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/**
 * Key paths in `value` that `schema` does not know, at every depth: the keys of an object
 * that its schema's shape lacks (objects accept them, so a typo like `worker.concurency`
 * would otherwise pass unnoticed), in nested objects, array elements and record values.
 * Only own keys of plain objects are looked at; values of unknown keys are not walked.
 *
 * @param path - key path of `value` (`[]` for the root), as zod issue paths are
 * @returns the paths of the unknown keys, in the order met
 */
export function unknownKeys(schema: z.ZodType, value: unknown, path: readonly PropertyKey[] = []): PropertyKey[][] {
  let def = defOf(schema);
  while (WRAPPERS.has(def.type) && def.innerType) def = defOf(def.innerType);
  const out: PropertyKey[][] = [];
  if (def.type === 'object' && def.shape && isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const field = Object.hasOwn(def.shape, key) ? def.shape[key] : undefined;
      if (field) out.push(...unknownKeys(field, value[key], [...path, key]));
      else out.push([...path, key]);
    }
  } else if (def.type === 'array' && def.element && Array.isArray(value)) {
    const element = def.element;
    value.forEach((item, i) => out.push(...unknownKeys(element, item, [...path, i])));
  } else if (def.type === 'record' && def.valueType && isPlainObject(value)) {
    const valueType = def.valueType;
    for (const key of Object.keys(value)) out.push(...unknownKeys(valueType, value[key], [...path, key]));
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
