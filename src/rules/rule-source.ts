/**
 * Where a rule comes from (file and key path), and how its problems are reported: every
 * compile function collects all problems it finds and throws one {@link ConfigError}, so
 * `event-reactor check-config` lists them all with their key paths.
 */
import { ConfigError, type ConfigProblem } from '../errors.js';

/** The file a rule was read from, used when no file is given. */
export const DEFAULT_RULES_FILE = 'event-handlers.json';

/**
 * The location of a rule in its file: `path` is the key path of the rule itself, such as
 * `local:disk.*[0].when`; problems inside it extend that path
 * (`local:disk.*[0].when.payload.used[0].numeric`).
 */
export interface RuleSource {
  /** Key path of the rule inside the file. */
  path: string;
  /** The file; default {@link DEFAULT_RULES_FILE}. */
  file?: string;
}

/** Collects problems under one file and throws them together. */
export class ProblemList {
  readonly #file: string;
  readonly problems: ConfigProblem[] = [];

  constructor(source: RuleSource) {
    this.#file = source.file ?? DEFAULT_RULES_FILE;
  }

  add(path: string, message: string): void {
    this.problems.push({ file: this.#file, path, message });
  }

  /** @throws {ConfigError} with every problem added, if there is any. */
  throwIfAny(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

const PLAIN_NAME = /^[^.[\]"\s]+$/;

/**
 * `base.name`, or `base["odd name"]` for a name that would not read back unambiguously
 * (empty, or with dots, brackets, quotes or whitespace).
 */
export function childPath(base: string, name: string): string {
  if (PLAIN_NAME.test(name)) return base === '' ? name : `${base}.${name}`;
  return `${base}[${JSON.stringify(name)}]`;
}

/** `base[index]`. */
export function indexPath(base: string, index: number): string {
  return `${base}[${index}]`;
}
