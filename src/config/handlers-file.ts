import { ConfigError, type ConfigProblem } from '../errors.js';
import { handlerId, type HandlerSpec } from '../handlers/spec.js';
import { splitArgv } from '../handlers/argv.js';
import { readJsonFile, zodProblems } from './load.js';
import { handlerSpecSchema, handlersFileSchema } from './schema.js';

export interface LoadedHandlers {
  /** Handlers by `namespace:event_type`. */
  table: Map<string, HandlerSpec[]>;
  warnings: ConfigProblem[];
}

/** Read and validate event-handlers.json; all problems are reported at once. */
export function loadHandlersFile(file: string): LoadedHandlers {
  return buildHandlers(file, readJsonFile(file));
}

const KEY = /^[^\s:]+:\S+$/;
const SPEC_KEYS = new Set(Object.keys(handlerSpecSchema.shape));

export function buildHandlers(file: string, raw: unknown): LoadedHandlers {
  const parsed = handlersFileSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(zodProblems(file, parsed.error));
  const problems: ConfigProblem[] = [];
  // Keys of the file as read: JSON.parse keeps "__proto__" as an own key, zod's record drops it.
  for (const key of Object.keys(raw as object)) {
    if (!KEY.test(key)) problems.push({ file, path: JSON.stringify(key), message: 'key must be "namespace:event_type" (no spaces; namespace without ":")' });
  }
  const warnings: ConfigProblem[] = [];
  const table = new Map<string, HandlerSpec[]>();
  for (const [key, entries] of Object.entries(parsed.data)) {
    if (!KEY.test(key)) continue;
    const specs: HandlerSpec[] = [];
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      const at = `${key}[${i}]`;
      for (const extra of Object.keys(entry)) {
        if (!SPEC_KEYS.has(extra)) {
          warnings.push({ file, path: `${at}.${extra}`, message: 'unknown key; ignored' });
        }
      }
      if (entry.driver === 'pyfunc') {
        warnings.push({
          file,
          path: `${at}.driver`,
          message: 'EventReactor\'s Python driver "pyfunc" is not supported (use "tsfunc"); this handler is skipped',
        });
        return;
      }
      if (entry.driver !== 'shell' && entry.driver !== 'tsfunc') {
        problems.push({ file, path: `${at}.driver`, message: `unknown driver "${entry.driver}" (use "shell" or "tsfunc")` });
        return;
      }
      if (entry.driver === 'tsfunc' && !/^[^\s]+\.[A-Za-z_$][\w$]*$/.test(entry.handler)) {
        problems.push({ file, path: `${at}.handler`, message: `tsfunc handler must be "module.function", got "${entry.handler}"` });
        return;
      }
      if (entry.handler.trim() === '') {
        problems.push({ file, path: `${at}.handler`, message: 'must not be blank' });
        return;
      }
      if (entry.driver === 'shell') {
        const problem = argvProblem(entry.handler);
        if (problem) {
          problems.push({ file, path: `${at}.handler`, message: problem });
          return;
        }
      }
      const id = handlerId(entry.driver, entry.handler);
      if (seen.has(id)) {
        warnings.push({ file, path: at, message: 'same driver and handler as an earlier entry under this key; the duplicate is skipped' });
        return;
      }
      seen.add(id);
      const spec: HandlerSpec = { id, key, driver: entry.driver, command: entry.handler, exclusive: entry.exclusive ?? false };
      if (entry.timeout !== undefined) spec.timeoutMs = entry.timeout * 1000;
      if (entry.retries !== undefined) spec.retries = entry.retries;
      if (entry.backoff !== undefined) spec.backoffMs = entry.backoff * 1000;
      if (entry.env !== undefined) spec.env = entry.env;
      specs.push(spec);
    });
    table.set(key, specs);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { table, warnings };
}

/** Why a shell handler string cannot be run (unbalanced quote, shell operator, no program), or undefined. */
function argvProblem(handler: string): string | undefined {
  try {
    splitArgv(handler);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
