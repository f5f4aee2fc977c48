import { createHash } from 'node:crypto';
import type { HandlerSpec } from '../handlers/spec.js';
import type { KeyPattern } from './glob.js';
import { KeyIndex } from './key-index.js';
import type { CompiledPattern } from './pattern.js';
import type { CorrelationSpec, DebounceSpec, IfSpec, RegisterSpec, ThrottleSpec } from './stateful-specs.js';
import type { CompiledTemplate } from './template.js';
import type { CompiledTarget } from './target.js';

/** One handler entry of event-handlers.json with its rules, compiled. */
export interface RuleEntry {
  spec: HandlerSpec;
  /** The key (exact or glob) the entry is under. */
  keyPattern: KeyPattern;
  /** Content pattern over the whole event. */
  when?: CompiledPattern;
  /** Conditions on registers. */
  if?: IfSpec;
  throttle?: ThrottleSpec;
  debounce?: DebounceSpec;
  /** A shell handler string with `{{path}}` placeholders. */
  template?: CompiledTemplate;
  /** Where it runs: an actor, a template giving one, or every live actor. */
  target?: CompiledTarget;
}

/**
 * The handler table: every entry under its key, the registers and correlations, and an
 * index that finds an event's entries by key (exact keys by lookup, globs pre-filtered,
 * results cached per event key). Immutable: a reload builds a new one and swaps it.
 */
export class RuleTable {
  readonly entries: readonly RuleEntry[];
  readonly registers: ReadonlyMap<string, RegisterSpec>;
  readonly correlations: readonly CorrelationSpec[];
  /** sha256 (first 16 hex digits) of the file's content, as `status` shows it. */
  readonly hash: string;
  readonly #index: KeyIndex<RuleEntry>;
  readonly #byRef: Map<string, RuleEntry>;
  readonly #byKey: Map<string, RuleEntry[]>;

  constructor(
    byKey: ReadonlyMap<string, { pattern: KeyPattern; entries: RuleEntry[] }>,
    registers: ReadonlyMap<string, RegisterSpec>,
    correlations: readonly CorrelationSpec[],
    text: string,
  ) {
    this.entries = [...byKey.values()].flatMap((k) => k.entries);
    this.registers = registers;
    this.correlations = correlations;
    this.hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    this.#index = new KeyIndex([...byKey.values()].map((k) => [k.pattern, k.entries] as const));
    this.#byRef = new Map(this.entries.map((e) => [ref(e.spec.key, e.spec.id), e]));
    this.#byKey = new Map([...byKey].map(([k, v]) => [k, v.entries]));
  }

  /** The entries whose key matches the event's, each once, in file order of their keys. */
  match(namespace: string, eventType: string): readonly RuleEntry[] {
    return this.#index.matchEvent(namespace, eventType);
  }

  /** The entry a job names (by the key it is under and its id), if the table has it. */
  byRef(key: string, id: string): RuleEntry | undefined {
    return this.#byRef.get(ref(key, id));
  }

  /** Entries by the key they are written under. */
  get byKey(): ReadonlyMap<string, readonly RuleEntry[]> {
    return this.#byKey;
  }

  /** Keys with at least one entry. */
  get keyCount(): number {
    let n = 0;
    for (const entries of this.#byKey.values()) if (entries.length > 0) n++;
    return n;
  }
}

function ref(key: string, id: string): string {
  return `${key}\u0000${id}`;
}
