import { ConfigError, type ConfigProblem } from '../errors.js';
import { handlerId, type DriverName, type HandlerSpec } from '../handlers/spec.js';
import { OUTPUT_OPTIONS } from '../handlers/output-options.js';
import { templateProblems } from '../handlers/template.js';
import { splitArgv } from '../handlers/argv.js';
import { keyPath, readJsonText } from './load.js';
import { z } from 'zod';
import { handlerSpecSchema } from './schema.js';
import { compileKeyPattern, isGlobKey, keyPatternProblem, type KeyPattern } from '../rules/glob.js';
import { compilePattern } from '../rules/pattern.js';
import { RuleTable, type RuleEntry } from '../rules/rule-table.js';
import { compileCorrelations, compileDebounce, compileIf, compileRegisters, compileThrottle, type RegisterSpec } from '../rules/stateful-specs.js';
import { compileTemplate } from '../rules/template.js';
import { compilePolicy, POLICY_KEYS } from '../rules/entry-policy.js';
import type { EntryPolicy } from '../handlers/spec.js';
import { compileTarget } from '../rules/target.js';

export interface LoadedHandlers {
  /** Handlers by the key they are written under (`namespace:event_type` or a glob). */
  table: Map<string, HandlerSpec[]>;
  /** The same entries with their rules compiled, the registers, correlations and key index. */
  rules: RuleTable;
  warnings: ConfigProblem[];
}

/** Read and validate event-handlers.json; all problems are reported at once. */
export function loadHandlersFile(file: string): LoadedHandlers {
  const { value, text } = readJsonText(file);
  return buildHandlers(file, value, text);
}

const SPEC_KEYS = new Set(Object.keys(handlerSpecSchema.shape));
/** Top-level sections that are not keys. */
const SECTIONS = new Set(['registers', 'correlations']);

/**
 * Validate a parsed event-handlers.json: EventReactor's `"namespace:event_type": [entries]`,
 * with keys that may be fnmatch globs, entries that may carry `when`, `if`, `throttle` and
 * `debounce`, shell handler strings with `{{path}}` placeholders, and the `registers` and
 * `correlations` sections. Every problem is reported with its key path, all at once.
 */
export function buildHandlers(file: string, raw: unknown, text: string = JSON.stringify(raw)): LoadedHandlers {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError([{ file, path: '', message: 'must be a JSON object of "namespace:event_type": [handlers]' }]);
  const problems: ConfigProblem[] = [];
  const collect = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      return undefined;
    }
  };
  const source = raw as Record<string, unknown>;
  const registers = Object.hasOwn(source, 'registers')
    ? (collect(() => compileRegisters(source['registers'], { file, path: 'registers' })) ?? new Map<string, RegisterSpec>())
    : new Map<string, RegisterSpec>();
  const correlations = Object.hasOwn(source, 'correlations')
    ? (collect(() => compileCorrelations(source['correlations'], { file, path: 'correlations' })) ?? [])
    : [];
  const warnings: ConfigProblem[] = [];
  const table = new Map<string, HandlerSpec[]>();
  const byKey = new Map<string, { pattern: KeyPattern; entries: RuleEntry[] }>();
  // Keys of the file as read: JSON.parse keeps "__proto__" as an own key.
  for (const key of Object.keys(source)) {
    if (SECTIONS.has(key)) continue;
    const keyProblem =
      keyPatternProblem(key) ??
      (!isGlobKey(key) && !/^[^:]+:.+$/.test(key) ? 'an exact key needs a namespace without ":" and an event type, neither empty' : undefined);
    if (keyProblem !== undefined) {
      problems.push({ file, path: JSON.stringify(key), message: `${keyProblem} (a key is "namespace:event_type", or a glob of it: local:disk.*)` });
      continue;
    }
    const list = z.array(handlerSpecSchema).safeParse(source[key]);
    if (!list.success) {
      problems.push(...list.error.issues.map((i) => ({ file, path: `${key}${handlersKeyPath(i.path, true)}`, message: i.message })));
      continue;
    }
    const pattern = compileKeyPattern(key, { file, path: JSON.stringify(key) });
    const specs: HandlerSpec[] = [];
    const ruled: RuleEntry[] = [];
    const seen = new Set<string>();
    list.data.forEach((entry, i) => {
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
      if (driver === 'shell' && !entry.handler.includes('{{')) {
        const problem = argvProblem(entry.handler);
        if (problem) {
          problems.push({ file, path: `${at}.handler`, message: problem });
          return;
        }
      }
      const rules: Omit<RuleEntry, 'spec' | 'keyPattern'> = {};
      const ruleJson: Record<string, unknown> = {};
      if (entry.when !== undefined) {
        const when = collect(() => compilePattern(entry.when, { file, path: `${at}.when` }));
        if (!when) return;
        rules.when = when;
        ruleJson['when'] = entry.when;
      }
      if (entry.if !== undefined) {
        const cond = collect(() => compileIf(entry.if, { file, path: `${at}.if` }, registers));
        if (!cond) return;
        rules.if = cond;
        ruleJson['if'] = entry.if;
      }
      if (entry.throttle !== undefined) {
        const throttle = collect(() => compileThrottle(entry.throttle, { file, path: `${at}.throttle` }));
        if (!throttle) return;
        rules.throttle = throttle;
        ruleJson['throttle'] = entry.throttle;
      }
      if (entry.debounce !== undefined) {
        const debounce = collect(() => compileDebounce(entry.debounce, { file, path: `${at}.debounce` }));
        if (!debounce) return;
        rules.debounce = debounce;
        ruleJson['debounce'] = entry.debounce;
      }
      let policy: EntryPolicy | undefined;
      if (POLICY_KEYS.some((k) => entry[k] !== undefined) || entry.exclusive === true) {
        const compiled = collect(() => compilePolicy(entry, entry.exclusive ?? false, { file, path: at }) ?? null);
        if (compiled === undefined) return;
        policy = compiled ?? undefined;
      }
      if (entry.target !== undefined) {
        if (entry.exclusive === true || POLICY_KEYS.some((k) => entry[k] !== undefined)) {
          problems.push({
            file,
            path: `${at}.target`,
            message:
              '"target" does not go with "exclusive" or a queue policy (concurrency, rate, order_by, breaker): a targeted entry runs on its actor\'s queue, which every entry targeted at that actor shares',
          });
          return;
        }
        const target = collect(() => compileTarget(entry.target!, { file, path: `${at}.target` }));
        if (!target) return;
        rules.target = target;
        ruleJson['target'] = entry.target;
      }
      if (driver === 'shell' && entry.handler.includes('{{')) {
        const template = collect(() => compileTemplate(entry.handler, { file, path: `${at}.handler` }));
        if (!template) return;
        rules.template = template;
      }
      // Entries that differ only in their rules are different handlers.
      const idOptions = Object.keys(ruleJson).length > 0 ? { ...parsedOptions, ...ruleJson } : parsedOptions;
      const id = handlerId(driver, entry.handler, idOptions);
      if (seen.has(id)) {
        warnings.push({ file, path: at, message: 'same driver, handler and rules as an earlier entry under this key; the duplicate is skipped' });
        return;
      }
      seen.add(id);
      const spec: HandlerSpec = { id, key, driver, command: entry.handler, exclusive: entry.exclusive ?? false };
      if (parsedOptions !== undefined) spec.options = parsedOptions;
      if (entry.timeout !== undefined) spec.timeoutMs = entry.timeout * 1000;
      if (entry.retries !== undefined) spec.retries = entry.retries;
      if (entry.backoff !== undefined) spec.backoffMs = entry.backoff * 1000;
      if (entry.env !== undefined) spec.env = entry.env;
      if (policy !== undefined) spec.policy = policy;
      if (entry.target !== undefined) spec.target = entry.target;
      specs.push(spec);
      ruled.push({ spec, keyPattern: pattern, ...rules });
    });
    table.set(key, specs);
    byKey.set(key, { pattern, entries: ruled });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { table, rules: new RuleTable(byKey, registers, correlations, text), warnings };
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
