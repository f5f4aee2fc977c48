/**
 * HTML built so that nothing reaches a page unescaped. Event payloads, keys, handler
 * output and error messages are chosen by whoever can fire an event, so every value put
 * into a page goes through {@link html}, which escapes it unless it is already
 * {@link SafeHtml} (made by `html` itself). There is no other way to make SafeHtml.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const MADE_HERE = Symbol('SafeHtml');

/** A piece of HTML in which every interpolated value was escaped. */
export class SafeHtml {
  readonly text: string;

  /** @internal only {@link html} makes these */
  constructor(text: string, token: symbol) {
    if (token !== MADE_HERE) throw new TypeError('SafeHtml is made by html`...` only');
    this.text = text;
  }

  toString(): string {
    return this.text;
  }
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.text;
  if (value === undefined || value === null || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  if (typeof value === 'string') return escapeHtml(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString();
  // Objects are shown as their JSON, never as "[object Object]".
  return escapeHtml(JSON.stringify(value) ?? '');
}

/**
 * A template tag: the literal parts are trusted HTML, every `${value}` is escaped (arrays
 * are rendered item by item, other objects as JSON; `undefined`, `null` and `false` render
 * nothing). Put values in attributes inside double quotes only.
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out, MADE_HERE);
}
