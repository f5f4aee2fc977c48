/**
 * Where a handler entry runs (`"target"` in event-handlers.json), eventdriventalk's actors
 * and Salt's targeted reactions: an actor's name (`"web-01"`), a `{{path}}` template that
 * gives one per event (`"{{payload.host}}"`, `"web-{{payload.n}}"`), or `"all"` (every
 * actor alive when the event is decided). Pure: compiled once per table, rendered per event.
 *
 * An actor name is 1-64 letters, digits, `.`, `_` or `-` (it becomes part of a BullMQ queue
 * name, which may not hold `:`); `all` is reserved. A template's value must be such a name:
 * a path the event lacks, or a value that is not a name, makes the job a dead result naming
 * it (as argv templates do), never a job for some other actor; a value of `all` is refused
 * too (only the file may fan out to every actor).
 */
import { ProblemList, type RuleSource } from './rule-source.js';
import { isEventPath, lookup, parseSteps, type PathStep } from './event-path.js';

/** An actor name: what `event-worker --actor --host-name NAME` accepts and `"target"` may name. */
export const ACTOR_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The target that means every live actor. */
export const ALL_ACTORS = 'all';

/** The answer of {@link CompiledTarget.resolve}. */
export type TargetResolution =
  | { readonly ok: true; readonly all: true }
  | { readonly ok: true; readonly all: false; readonly actor: string }
  | { readonly ok: false; readonly message: string };

/** A handler entry's `target`, compiled. */
export interface CompiledTarget {
  /** The target as written. */
  readonly source: string;
  /** The actor this event's job is for, `all`, or why there is none. */
  resolve(event: unknown): TargetResolution;
}

type Part = string | { readonly text: string; readonly steps: readonly PathStep[] };

/**
 * Compile a `target`.
 *
 * @param target - the entry's `target` string
 * @param at - where it is, e.g. `{ file, path: 'local:disk.*[0].target' }`
 * @throws {ConfigError} for a malformed placeholder, or text that cannot be part of an actor name
 */
export function compileTarget(target: string, at: RuleSource): CompiledTarget {
  const problems = new ProblemList(at);
  if (target === ALL_ACTORS) return { source: target, resolve: () => ({ ok: true, all: true }) };
  const parts: Part[] = [];
  let i = 0;
  for (;;) {
    const open = target.indexOf('{{', i);
    const literal = target.slice(i, open < 0 ? undefined : open);
    if (literal !== '') parts.push(literal);
    if (open < 0) break;
    const close = target.indexOf('}}', open + 2);
    if (close < 0) {
      problems.add(at.path, `"{{" at position ${open} is not closed by "}}"`);
      break;
    }
    const text = target.slice(open + 2, close).trim();
    if (isEventPath(text)) parts.push({ text, steps: parseSteps(text) });
    else problems.add(at.path, `placeholder "{{${target.slice(open + 2, close)}}}" is not a path such as {{payload.host}}`);
    i = close + 2;
  }
  for (const p of parts) {
    if (typeof p === 'string' && !/^[A-Za-z0-9._-]*$/.test(p))
      problems.add(at.path, `"${target}" is not an actor name: letters, digits, ".", "_" and "-" (at most 64), a {{path}} template giving one, or "all"`);
  }
  const literalOnly = parts.every((p) => typeof p === 'string');
  if (literalOnly && problems.problems.length === 0 && !ACTOR_NAME.test(target))
    problems.add(at.path, `"${target}" is not an actor name: 1-64 letters, digits, ".", "_" and "-"`);
  problems.throwIfAny();
  if (literalOnly) return { source: target, resolve: () => ({ ok: true, all: false, actor: target }) };
  return { source: target, resolve: (event) => resolve(target, parts, event) };
}

function resolve(source: string, parts: readonly Part[], event: unknown): TargetResolution {
  let name = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      name += part;
      continue;
    }
    const value = lookup(event, part.steps);
    if (value === undefined) return { ok: false, message: `target ${JSON.stringify(source)}: the event has no value at {{${part.text}}}` };
    name += typeof value === 'string' ? value : JSON.stringify(value);
  }
  // Only the file may say "all": an event's value naming every actor is refused.
  if (name === ALL_ACTORS) return { ok: false, message: `target ${JSON.stringify(source)} gives "all": only event-handlers.json may target every actor` };
  if (!ACTOR_NAME.test(name))
    return {
      ok: false,
      message: `target ${JSON.stringify(source)} gives ${JSON.stringify(name.slice(0, 100))}, which is not an actor name (1-64 letters, digits, ".", "_", "-")`,
    };
  return { ok: true, all: false, actor: name };
}
