/**
 * Bench options: `--name=value` or `--name value` on the command line, then the
 * environment variable, then the default. Every value is checked when read, naming the
 * flag and the variable.
 */
function fromArgv(name: string, argv: readonly string[]): string | undefined {
  const flag = `--${name}`;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === flag) return argv[i + 1];
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
  }
  return undefined;
}

/** A positive whole number from `--name` / `$env`, or `fallback`. */
export function intOption(name: string, env: string, fallback: number, argv: readonly string[] = process.argv.slice(2)): number {
  const raw = fromArgv(name, argv) ?? process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--${name} / ${env} must be a positive whole number, got "${raw}"`);
  return n;
}

/** One of `choices` from `--name` / `$env`, or `fallback`. */
export function choiceOption<T extends string>(
  name: string,
  env: string,
  choices: readonly T[],
  fallback: T,
  argv: readonly string[] = process.argv.slice(2),
): T {
  const raw = fromArgv(name, argv) ?? process.env[env];
  if (raw === undefined || raw === '') return fallback;
  if (!(choices as readonly string[]).includes(raw)) throw new RangeError(`--${name} / ${env} must be one of ${choices.join(', ')}, got "${raw}"`);
  return raw as T;
}

/** Some of `choices`, comma-separated, from `--name` / `$env`, or all of them. */
export function subsetOption<T extends string>(name: string, env: string, choices: readonly T[], argv: readonly string[] = process.argv.slice(2)): T[] {
  const raw = fromArgv(name, argv) ?? process.env[env];
  if (raw === undefined || raw === '') return [...choices];
  const picked = raw.split(',').map((s) => s.trim());
  const unknown = picked.filter((p) => !(choices as readonly string[]).includes(p));
  if (unknown.length > 0) throw new RangeError(`--${name} / ${env}: unknown ${unknown.map((u) => `"${u}"`).join(', ')}; choose among ${choices.join(', ')}`);
  return choices.filter((c) => picked.includes(c));
}

/** A required environment variable for a bench child process. */
export function requiredEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`bench child: environment variable ${name} is not set`);
  return v;
}
