import { ConfigError, type ConfigProblem } from '../errors.js';
import { handlerId, type DriverName, type HandlerSpec } from '../handlers/spec.js';
import { OUTPUT_OPTIONS } from '../handlers/output-options.js';
import { templateProblems } from '../handlers/template.js';
import { splitArgv } from '../handlers/argv.js';
import { keyPath, readJsonFile } from './load.js';
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
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => ({ file, path: handlersKeyPath(i.path), message: i.message })));
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
      const driver = entry.driver;
      if (!isDriver(driver)) {
        problems.push({ file, path: `${at}.driver`, message: `unknown driver "${driver}" (use ${DRIVERS.map((d) => `"${d}"`).join(', ')})` });
        return;
      }
      const optionsSchema = driver === 'webhook' || driver === 'amqp' ? OUTPUT_OPTIONS[driver] : undefined;
      const own = optionsSchema ? new Set(Object.keys(optionsSchema.shape)) : new Set<string>();
      const options: Record<string, unknown> = {};
      for (const extra of Object.keys(entry)) {
        if (own.has(extra)) options[extra] = (entry as Record<string, unknown>)[extra];
        else if (!SPEC_KEYS.has(extra)) warnings.push({ file, path: `${at}.${extra}`, message: 'unknown key; ignored' });
      }
      if (driver === 'tsfunc' && !/^[^\s]+\.[A-Za-z_$][\w$]*$/.test(entry.handler)) {
        problems.push({ file, path: `${at}.handler`, message: `tsfunc handler must be "module.function", got "${entry.handler}"` });
        return;
      }
      if (driver === 'pyfunc' && !/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.[A-Za-z_]\w*$/.test(entry.handler)) {
        problems.push({ file, path: `${at}.handler`, message: `pyfunc handler must be "module.function" (Python names), got "${entry.handler}"` });
        return;
      }
      if (driver === 'webhook') {
        const problem = urlProblem(entry.handler);
        if (problem) {
          problems.push({ file, path: `${at}.handler`, message: problem });
          return;
        }
      }
      let parsedOptions: Record<string, unknown> | undefined;
      if (optionsSchema) {
        const o = optionsSchema.safeParse(options);
        if (!o.success) {
          problems.push(...o.error.issues.map((issue) => ({ file, path: `${at}${handlersKeyPath(issue.path, true)}`, message: issue.message })));
          return;
        }
        parsedOptions = o.data;
      }
      if (entry.handler.trim() === '') {
        problems.push({ file, path: `${at}.handler`, message: 'must not be blank' });
        return;
      }
      if (driver === 'shell') {
        const problem = argvProblem(entry.handler);
        if (problem) {
          problems.push({ file, path: `${at}.handler`, message: problem });
          return;
        }
      }
      const id = handlerId(driver, entry.handler, parsedOptions);
      if (seen.has(id)) {
        warnings.push({ file, path: at, message: 'same driver and handler as an earlier entry under this key; the duplicate is skipped' });
        return;
      }
      seen.add(id);
      const spec: HandlerSpec = { id, key, driver, command: entry.handler, exclusive: entry.exclusive ?? false };
      if (parsedOptions !== undefined) spec.options = parsedOptions;
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

const DRIVERS: readonly DriverName[] = ['shell', 'tsfunc', 'pyfunc', 'webhook', 'amqp'];

function isDriver(name: string): name is DriverName {
  return (DRIVERS as readonly string[]).includes(name);
}

/** A zod issue path of event-handlers.json as `key[0].headers.Authorization` (`relative`: after an entry's path). */
function handlersKeyPath(path: readonly PropertyKey[], relative = false): string {
  const p = keyPath(path);
  return relative && p !== '' && !p.startsWith('[') ? `.${p}` : p;
}

/** Why a webhook URL template cannot be a URL (placeholders stand for text), or undefined. */
function urlProblem(handler: string): string | undefined {
  const bad = templateProblems(handler)[0];
  if (bad) return bad.message;
  let url: URL;
  try {
    url = new URL(handler.replace(/\{\{[^{}]*\}\}/g, 'x'));
  } catch {
    return `webhook handler must be an http:// or https:// URL, got "${handler}"`;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : `webhook handler must be an http:// or https:// URL, got "${handler}"`;
}
