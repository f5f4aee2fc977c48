/**
 * Placeholders in shell handler strings: `notify.sh --mount {{payload.mount}} {{id}}` runs
 * with the event's values in place of the placeholders.
 *
 * Safety: the string is split into argv first, exactly as the shell driver splits it
 * (`splitArgv`, no shell), with each placeholder standing in as an opaque word character;
 * only then is each placeholder replaced inside its own argv element. Whatever a value
 * holds (spaces, quotes, `;`, `$(...)`, newlines) it stays inside that one element and is
 * never parsed again. A placeholder may not appear in the first word: the event does not
 * choose the program.
 *
 * Syntax: `{{path}}`, spaces inside the braces allowed (`{{ payload.mount }}`). A path is
 * a field name (letters, digits, `_`, `-`; not starting with a digit or `-`) followed by
 * `.name` or `[index]` steps: `id`, `namespace`, `payload.mount`, `payload.disks[0].used`.
 * An index applies to arrays only. Fields are the event's own (never Object.prototype's).
 * Placeholders are recognised everywhere in the string, inside quotes too; every `{{`
 * must open a valid placeholder (there is no escape for a literal `{{`).
 *
 * Values: a string as it is; numbers, booleans and null as JSON text (`42`, `true`,
 * `null`); objects and arrays as JSON. A path with no value, or a string value holding a
 * NUL character (which no argv element can carry), makes {@link CompiledTemplate.render}
 * return a failure naming the path: never an empty or truncated argument.
 */
import { splitArgv } from '../handlers/argv.js';
import { ProblemList, type RuleSource } from './rule-source.js';
import { isEventPath, lookup, parseSteps, type PathStep } from './event-path.js';

/** The answer of {@link CompiledTemplate.render}. */
export type RenderResult =
  | { readonly ok: true; readonly argv: string[] }
  | {
      readonly ok: false;
      /** The placeholder's path as written, e.g. `payload.mount`. */
      readonly path: string;
      /** `missing`: the event has no value there; `nul`: the value is a string with a NUL character. */
      readonly reason: 'missing' | 'nul';
      /** One sentence for the run's error result. */
      readonly message: string;
    };

/** A handler string, split and compiled. */
export interface CompiledTemplate {
  /** The handler string as written. */
  readonly source: string;
  /** Placeholder paths in order of appearance (with repeats), as written. */
  readonly placeholders: readonly string[];
  /** The argv for `event` (a fresh array each call), or which placeholder could not be filled. */
  render(event: unknown): RenderResult;
}

const OPEN = '{{';
const CLOSE = '}}';

interface Placeholder {
  readonly text: string;
  readonly steps: readonly PathStep[];
}

/** A piece of one argv element: literal text or a placeholder to fill. */
type Part = string | Placeholder;

/**
 * Compile a shell handler string with `{{path}}` placeholders.
 *
 * @param handler - the entry's `handler` string
 * @param at - where it is, e.g. `{ file, path: 'local:disk.*[0].handler' }`
 * @throws {ConfigError} for a malformed placeholder, a placeholder in the program word,
 *   or a string `splitArgv` refuses (unbalanced quote, bare shell operator, ...)
 */
export function compileTemplate(handler: string, at: RuleSource): CompiledTemplate {
  const problems = new ProblemList(at);
  const found: Placeholder[] = [];
  // A private-use character absent from the string stands for each placeholder while splitting.
  const marker = pickMarker(handler);
  let masked = '';
  let i = 0;
  for (;;) {
    const open = handler.indexOf(OPEN, i);
    if (open < 0) break;
    const close = handler.indexOf(CLOSE, open + OPEN.length);
    if (close < 0) {
      problems.add(at.path, `"{{" at position ${open} is not closed by "}}"`);
      break;
    }
    const text = handler.slice(open + OPEN.length, close).trim();
    if (!isEventPath(text)) {
      problems.add(
        at.path,
        `placeholder "{{${handler.slice(open + OPEN.length, close)}}}" is not a path such as {{payload.mount}} or {{payload.disks[0].used}}`,
      );
    }
    found.push({ text, steps: parseSteps(text) });
    masked += handler.slice(i, open) + marker;
    i = close + CLOSE.length;
  }
  masked += handler.slice(i);
  let words: string[] = [];
  if (problems.problems.length === 0) {
    try {
      words = splitArgv(masked);
    } catch (err) {
      problems.add(at.path, unmask((err as Error).message, marker, found));
    }
  }
  if (words[0]?.includes(marker)) problems.add(at.path, 'a placeholder may not be in the program name: the event must not choose what runs');
  problems.throwIfAny();

  let next = 0;
  const argv: Part[][] = words.map((word) => {
    const parts: Part[] = [];
    const pieces = word.split(marker);
    pieces.forEach((piece, k) => {
      if (k > 0) parts.push(found[next++]!);
      if (piece !== '') parts.push(piece);
    });
    return parts;
  });
  return { source: handler, placeholders: found.map((p) => p.text), render: (event) => render(argv, event) };
}

function render(argv: readonly (readonly Part[])[], event: unknown): RenderResult {
  const out: string[] = [];
  for (const parts of argv) {
    let word = '';
    for (const part of parts) {
      if (typeof part === 'string') {
        word += part;
        continue;
      }
      const value = lookup(event, part.steps);
      if (value === undefined) return { ok: false, path: part.text, reason: 'missing', message: `the event has no value at {{${part.text}}}` };
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      if (text.includes('\u0000'))
        return {
          ok: false,
          path: part.text,
          reason: 'nul',
          message: `the value at {{${part.text}}} holds a NUL character, which a command-line argument cannot carry`,
        };
      word += text;
    }
    out.push(word);
  }
  return { ok: true, argv: out };
}

function pickMarker(s: string): string {
  for (let cp = 0xe000; cp <= 0xf8ff; cp++) {
    const c = String.fromCharCode(cp);
    if (!s.includes(c)) return c;
  }
  // 6,400 distinct private-use characters in one handler string: not a real handler.
  throw new RangeError('handler string uses every private-use character');
}

/** The split error's message with the placeholders written back. */
function unmask(message: string, marker: string, found: readonly Placeholder[]): string {
  let k = 0;
  return message.replaceAll(marker, () => `{{${found[k++]?.text ?? ''}}}`);
}
