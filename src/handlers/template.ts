import { HandlerRefusedError } from '../errors.js';

/**
 * Templates of the built-in outputs (`webhook`, `amqp`): any JSON value whose strings may
 * hold `{{event.PATH}}` and `{{env.NAME}}` placeholders.
 *
 * - `event` is the whole event, `event.payload.host` a field of it (`event.payload.items.0`
 *   an array element); `env.NAME` a variable of the run's environment, where the entry's
 *   `env` puts its values and its secrets (`{"secret": "NAME"}`).
 * - A string that is one placeholder and nothing else becomes the value itself (an
 *   object stays an object); inside other text a value is written as it is (strings) or
 *   as JSON.
 * - A placeholder naming something that is not there refuses the run, saying which: a
 *   silently empty header or URL would fail later, and less clearly.
 */

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE = /^\{\{\s*([^{}]*?)\s*\}\}$/;
const PATH = /^(event|env)((?:\.[\w$-]+)*)$/;

/** What placeholders are looked up in. */
export interface TemplateScope {
  event: unknown;
  env: Readonly<Record<string, string>>;
}

/** Problems of a template's placeholders (bad syntax, unknown root), each with where it is; empty when it is fine. */
export function templateProblems(template: unknown, where: string[] = []): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  const walk = (v: unknown, at: string[]): void => {
    if (typeof v === 'string') {
      for (const m of v.matchAll(PLACEHOLDER)) {
        if (!PATH.test(m[1]!)) out.push({ path: at, message: `placeholder "${m[0]}" must name event, event.FIELD... or env.NAME` });
      }
      if (/\{\{(?![^{}]*\}\})/.test(v)) out.push({ path: at, message: 'has "{{" without a matching "}}"' });
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...at, String(i)]));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
  };
  walk(template, where);
  return out;
}

/**
 * Render `template` against `scope`.
 *
 * @throws {HandlerRefusedError} naming the placeholder when what it names is missing
 */
export function render(template: unknown, scope: TemplateScope): unknown {
  if (typeof template === 'string') return renderString(template, scope);
  if (Array.isArray(template)) return template.map((t) => render(t, scope));
  if (template !== null && typeof template === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(template))
      Object.defineProperty(out, k, { value: render(v, scope), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return template;
}

/** {@link render} for a template that must give text (a URL, a header, a routing key). */
export function renderText(template: string, scope: TemplateScope): string {
  const v = renderString(template, scope);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function renderString(text: string, scope: TemplateScope): unknown {
  const whole = WHOLE.exec(text);
  if (whole) return lookup(whole[1]!, scope);
  return text.replace(PLACEHOLDER, (_m, path: string) => {
    const v = lookup(path, scope);
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
}

function lookup(path: string, scope: TemplateScope): unknown {
  const m = PATH.exec(path);
  if (!m) throw new HandlerRefusedError(`template placeholder {{${path}}} must name event, event.FIELD... or env.NAME`);
  const parts = m[2] ? m[2].slice(1).split('.') : [];
  if (m[1] === 'env') {
    const name = parts.join('.');
    if (!Object.hasOwn(scope.env, name)) throw new HandlerRefusedError(`template placeholder {{${path}}}: no variable ${name} in the handler's env`);
    return scope.env[name];
  }
  let v: unknown = scope.event;
  for (const [i, part] of parts.entries()) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) {
      throw new HandlerRefusedError(`template placeholder {{${path}}}: the event has no ${['event', ...parts.slice(0, i + 1)].join('.')}`);
    }
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}
